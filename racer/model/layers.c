/* A whole decoder stack for a verify forward's few rows in one call (racer/model/lean.py):
 * every layer's norms, block products (blocks.c), rotary embedding, cache write and tree
 * attention (attention.c), SiLU gate and residual adds, with no Python between them.
 *
 * Per layer, as the lean forward's own operations do it:
 *   x += o(attention(qkv(norm1(x))));  x += down(silu(gate) * up), gate|up = gate_up(norm2(x)).
 * Every row is computed alone and alike whatever n is (norms and activations per row, the
 * products and attention row-invariant), so a tree's rows equal one-token steps' bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include "blocks.c"
#include "attention.c"

/* y = w * (x / sqrt(mean(x^2) + eps)) per row of width H: the sum of squares in 8 lanes, in order */
static void rms_norm(const float *x, int n, int H, const float *w, float eps, float *y)
{
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * H;
        float *yi = y + (size_t)i * H;
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < H; c += 8) {
            __m256 v = _mm256_loadu_ps(xi + c);
            acc = _mm256_fmadd_ps(v, v, acc);
        }
        const float inv = 1.0f / sqrtf(hsum(acc) / (float)H + eps);
        for (int c = 0; c < H; c++) yi[c] = w[c] * (xi[c] * inv);
    }
}

static void product(int kind, const float *x, int n, int in, const void *q, const float *d, const float *m,
                    int out, float *y)
{
    if (kind == 4) q4_matmul(x, n, in, (const uint8_t *)q, d, m, out, y);
    else q8_matmul(x, n, in, (const int8_t *)q, d, m, out, y);
}

/* x (n, H): the embeddings in, the last layer's output out. Per layer l, products p = 0..3
   (q|k|v, o, gate|up, down) are weights[4 l + p] = (kind 4 or 8, q, d, m); norms[2 l], norms[2 l
   + 1] the two norms' weights. cos, sin (n, D) at the rows' positions; kc, vc (L, g, cap, D);
   allowed (n, n) or NULL for one row. */
void decoder_layers(float *x, int n, int H, int I, int L, int h, int g, int D, const int *kinds,
                    const void *const *q, const float *const *d, const float *const *m,
                    const float *const *norms, float eps, const float *cos, const float *sin,
                    float *kc, float *vc, int cap, int start, const uint8_t *allowed, float scale, int threads)
{
    const int width = (h + 2 * g) * D;
    float *xn = malloc((size_t)n * H * sizeof(float)), *tmp = malloc((size_t)n * H * sizeof(float));
    float *qkv = malloc((size_t)n * width * sizeof(float)), *att = malloc((size_t)n * h * D * sizeof(float));
    float *gu = malloc((size_t)n * 2 * I * sizeof(float)), *act = malloc((size_t)n * I * sizeof(float));
    for (int l = 0; l < L; l++) {
        const int p = 4 * l;
        const size_t layer = (size_t)l * g * cap * D;
        rms_norm(x, n, H, norms[2 * l], eps, xn);
        product(kinds[p], xn, n, H, q[p], d[p], m[p], width, qkv);
        tree_attention(qkv, n, h, g, D, cos, sin, kc + layer, vc + layer, cap, start, allowed, scale, att, threads);
        product(kinds[p + 1], att, n, h * D, q[p + 1], d[p + 1], m[p + 1], H, tmp);
        for (size_t c = 0; c < (size_t)n * H; c++) x[c] += tmp[c];
        rms_norm(x, n, H, norms[2 * l + 1], eps, xn);
        product(kinds[p + 2], xn, n, H, q[p + 2], d[p + 2], m[p + 2], 2 * I, gu);
        for (int i = 0; i < n; i++)
            for (int c = 0; c < I; c++) {
                const float a = gu[(size_t)i * 2 * I + c];
                act[(size_t)i * I + c] = a / (1.0f + expf(-a)) * gu[(size_t)i * 2 * I + I + c];
            }
        product(kinds[p + 3], act, n, I, q[p + 3], d[p + 3], m[p + 3], H, tmp);
        for (size_t c = 0; c < (size_t)n * H; c++) x[c] += tmp[c];
    }
    free(xn); free(tmp); free(qkv); free(att); free(gu); free(act);
}
