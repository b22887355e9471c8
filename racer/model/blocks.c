/* Products with weights kept as the blocks they were quantized to (racer/model/blocks.py).
 *
 * A row of W (out, in) is stored as blocks of 32 weights along ``in``:
 *   4-bit blocks (GGUF's Q4_1): W[o, 32b + j] = d[o, b] * q + m[o, b], q the low nibble
 *     (j < 16) or the high nibble (j >= 16) of byte qs[o, b, j % 16];
 *   8-bit blocks (GGUF's Q8_0): W[o, 32b + j] = d[o, b] * qs[o, b, j], qs signed.
 * d * q is exact in float32 for these (an 11-bit scale times a 4- or 8-bit integer), so
 * one fused multiply-add rebuilds the float32 weight bit for bit, as the conversion
 * computed it (fl(fl(d q) + m)); the Python side checks that on every matrix.
 *
 * y (n, out) = x (n, in) @ W^T in float32. Each row's sum is formed the same way whatever
 * n is (two 8-lane accumulators, blocks in order, then one horizontal sum), so a row's
 * result does not depend on how many rows share the call. Output rows are split between
 * OpenMP's threads (torch's pool: the process already holds its libgomp).
 *
 * Rebuilding a block's weights costs more than one row's multiply-adds on them (a one-row
 * product is bound by it), so a block is rebuilt once per tile of rows. Up to DIRECT rows,
 * tiles of up to WIDE rows read the blocks directly (6 rows: 12 accumulators and the 4
 * weight vectors fill AVX2's 16 registers); beyond, a chunk of rebuilt rows is read from a
 * buffer. Measured on the model's layer shapes (docs/results.md): 5 and 6 rows cost 30%
 * less than a tile of 4 and one of the rest did.
 */
#include <immintrin.h>
#include "simd.h"
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>

#define TILE 4     /* rows of a tile up to TILE rows, and where a chunk's rebuilt weights are read */
#define WIDE 6     /* most rows of a tile read straight from the blocks */
#define DIRECT 12  /* rows served straight from the blocks: each block is rebuilt once per tile */

static inline __m256 u8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
static inline __m256 i8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

/* the 32 weights of block b of one output row, as four 8-lane vectors */
static inline void q4_block(const uint8_t *q, const float *d, const float *m, int b, __m256 w[4])
{
    const __m128i low = _mm_set1_epi8(0x0F);
    __m128i raw = _mm_loadu_si128((const __m128i *)(q + (size_t)b * 16));
    __m128i lo = _mm_and_si128(raw, low), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), low);
    __m256 vd = _mm256_broadcast_ss(d + b), vm = _mm256_broadcast_ss(m + b);
    w[0] = _mm256_fmadd_ps(vd, u8_to_ps(lo), vm);
    w[1] = _mm256_fmadd_ps(vd, u8_to_ps(_mm_srli_si128(lo, 8)), vm);
    w[2] = _mm256_fmadd_ps(vd, u8_to_ps(hi), vm);
    w[3] = _mm256_fmadd_ps(vd, u8_to_ps(_mm_srli_si128(hi, 8)), vm);
}

static inline void q8_block(const int8_t *q, const float *d, const float *m, int b, __m256 w[4])
{
    (void)m;
    const int8_t *p = q + (size_t)b * 32;
    __m256 vd = _mm256_broadcast_ss(d + b);
    for (int k = 0; k < 4; k++)
        w[k] = _mm256_mul_ps(vd, i8_to_ps(_mm_loadl_epi64((const __m128i *)(p + 8 * k))));
}

#define TILE_BODY(BLOCK, QTYPE, QSTRIDE)                                                      \
    __m256 a0[WIDE], a1[WIDE], w[4];                                                          \
    for (int r = 0; r < rn; r++) { a0[r] = _mm256_setzero_ps(); a1[r] = _mm256_setzero_ps(); } \
    for (int b = 0; b < nb; b++) {                                                            \
        BLOCK((const QTYPE *)q, d, m, b, w);                                                  \
        for (int r = 0; r < rn; r++) {                                                        \
            const float *xr = x + (size_t)r * in + (size_t)b * 32;                            \
            a0[r] = _mm256_fmadd_ps(w[0], _mm256_loadu_ps(xr), a0[r]);                        \
            a1[r] = _mm256_fmadd_ps(w[1], _mm256_loadu_ps(xr + 8), a1[r]);                    \
            a0[r] = _mm256_fmadd_ps(w[2], _mm256_loadu_ps(xr + 16), a0[r]);                   \
            a1[r] = _mm256_fmadd_ps(w[3], _mm256_loadu_ps(xr + 24), a1[r]);                   \
        }                                                                                     \
    }                                                                                         \
    for (int r = 0; r < rn; r++) y[(size_t)r * out] = hsum(_mm256_add_ps(a0[r], a1[r]));

static inline __attribute__((always_inline)) void q4_tile(
    const float *x, int in, const uint8_t *q, const float *d, const float *m, int nb, float *y, int out,
    const int rn)
{
    TILE_BODY(q4_block, uint8_t, 16)
}

static inline __attribute__((always_inline)) void q8_tile(
    const float *x, int in, const int8_t *q, const float *d, const float *m, int nb, float *y, int out,
    const int rn)
{
    TILE_BODY(q8_block, int8_t, 32)
}

/* the same sums from the weights of one output row already rebuilt in ``wbuf`` */
static inline __attribute__((always_inline)) void buf_tile(
    const float *x, int in, const float *wbuf, int nb, float *y, int out, const int rn)
{
    __m256 a0[TILE], a1[TILE];
    for (int r = 0; r < rn; r++) { a0[r] = _mm256_setzero_ps(); a1[r] = _mm256_setzero_ps(); }
    for (int b = 0; b < nb; b++) {
        const float *wb = wbuf + (size_t)b * 32;
        __m256 w0 = _mm256_load_ps(wb), w1 = _mm256_load_ps(wb + 8);
        __m256 w2 = _mm256_load_ps(wb + 16), w3 = _mm256_load_ps(wb + 24);
        for (int r = 0; r < rn; r++) {
            const float *xr = x + (size_t)r * in + (size_t)b * 32;
            a0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr), a0[r]);
            a1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr + 8), a1[r]);
            a0[r] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xr + 16), a0[r]);
            a1[r] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xr + 24), a1[r]);
        }
    }
    for (int r = 0; r < rn; r++) y[(size_t)r * out] = hsum(_mm256_add_ps(a0[r], a1[r]));
}

/* up to TILE rows: tiles of TILE and the rest */
#define TILES(CALL)                                                                           \
    int r0 = 0;                                                                               \
    for (; r0 + TILE <= n; r0 += TILE) CALL(TILE);                                            \
    switch (n - r0) {                                                                         \
    case 1: CALL(1); break;                                                                   \
    case 2: CALL(2); break;                                                                   \
    case 3: CALL(3); break;                                                                   \
    }

/* more (up to DIRECT): as few tiles of at most WIDE rows as fit, their sizes differing by one
   at most (7 rows: 3 and 4) */
#define WIDE_TILES(CALL)                                                                      \
    const int tiles = (n + WIDE - 1) / WIDE;                                                  \
    for (int t = 0, r0 = 0, rn; t < tiles; t++, r0 += rn) {                                   \
        rn = (n - r0) / (tiles - t);                                                          \
        switch (rn) {                                                                         \
        case 3: CALL(3); break;                                                               \
        case 4: CALL(4); break;                                                               \
        case 5: CALL(5); break;                                                               \
        default: CALL(6); break;                                                              \
        }                                                                                     \
    }

/* More rows than DIRECT: the weights of CHUNK output rows are rebuilt once into a buffer
   of the thread's, then each tile of x rows (in L1) meets every row of the chunk there: the
   same values summed in the same order, so the same bits as a tile alone. */
#define CHUNK 16
#define MATMUL(NAME, TILEFN, BLOCKFN, QTYPE, QBYTES)                                          \
    void NAME(const float *x, int n, int in, const QTYPE *q, const float *d, const float *m,  \
              int out, float *y)                                                              \
    {                                                                                         \
        const int nb = in / 32;                                                               \
        if (n <= DIRECT) {                                                                    \
            _Pragma("omp parallel for schedule(static)")                                      \
            for (int o = 0; o < out; o++) {                                                   \
                const QTYPE *qo = q + (size_t)o * nb * QBYTES;                                \
                const float *dO = d + (size_t)o * nb, *mO = m ? m + (size_t)o * nb : 0;       \
                if (n <= TILE) {                                                              \
                    TILES(Q_CALL)                                                             \
                } else {                                                                      \
                    WIDE_TILES(Q_CALL)                                                        \
                }                                                                             \
            }                                                                                 \
            return;                                                                           \
        }                                                                                     \
        _Pragma("omp parallel")                                                               \
        {                                                                                     \
            float *buf = aligned_alloc(32, (size_t)CHUNK * nb * 32 * sizeof(float));          \
            _Pragma("omp for schedule(static)")                                               \
            for (int o0 = 0; o0 < out; o0 += CHUNK) {                                         \
                const int on = out - o0 < CHUNK ? out - o0 : CHUNK;                           \
                for (int i = 0; i < on; i++) {                                                \
                    const int o = o0 + i;                                                     \
                    const QTYPE *qo = q + (size_t)o * nb * QBYTES;                            \
                    const float *dO = d + (size_t)o * nb, *mO = m ? m + (size_t)o * nb : 0;   \
                    __m256 w[4];                                                              \
                    for (int b = 0; b < nb; b++) {                                            \
                        BLOCKFN(qo, dO, mO, b, w);                                            \
                        for (int k = 0; k < 4; k++)                                           \
                            _mm256_store_ps(buf + ((size_t)i * nb + b) * 32 + 8 * k, w[k]);   \
                    }                                                                         \
                }                                                                             \
                int r0 = 0;                                                                   \
                for (; r0 + TILE <= n; r0 += TILE)                                            \
                    for (int i = 0; i < on; i++) BUF_CALL(TILE);                              \
                for (int i = 0; i < on; i++) {                                                \
                    switch (n - r0) {                                                         \
                    case 1: BUF_CALL(1); break;                                               \
                    case 2: BUF_CALL(2); break;                                               \
                    case 3: BUF_CALL(3); break;                                               \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
            free(buf);                                                                        \
        }                                                                                     \
    }
#define BUF_CALL(RN) buf_tile(x + (size_t)r0 * in, in, buf + (size_t)i * nb * 32, nb, y + (size_t)r0 * out + o0 + i, out, RN)

#define Q_CALL(RN) q4_tile(x + (size_t)r0 * in, in, qo, dO, mO, nb, y + (size_t)r0 * out + o, out, RN)
MATMUL(q4_matmul, q4_tile, q4_block, uint8_t, 16)
#undef Q_CALL
#define Q_CALL(RN) q8_tile(x + (size_t)r0 * in, in, qo, dO, mO, nb, y + (size_t)r0 * out + o, out, RN)
MATMUL(q8_matmul, q8_tile, q8_block, int8_t, 32)
