/* Attention of a verify forward's few rows, one call per layer (racer/model/lean.py).
 *
 * For n tree nodes on top of ``start`` cached positions: rotates each node's query and key
 * (the rotary table's cos and sin rows, rotate_half's sign folded into sin), writes keys and
 * values into the layer's cache at start..start+n, and gives each query head of each node
 * softmax(scale q.k) v over the cached context and the tree keys ``allowed`` marks (itself and
 * its ancestors). A node's result is computed alike whatever n is: its keys in order, the
 * keys it may not see skipped, so a tree's rows equal one-token steps' bit for bit.
 */
#include <immintrin.h>
#include "simd.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline float dot(const float *a, const float *b, int D)
{
    __m256 acc = _mm256_setzero_ps();
    for (int k = 0; k < D; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
    return hsum(acc);
}

static void rotate(const float *t, const float *cos, const float *sin, int D, float *out)
{
    const int half = D / 2;
    for (int j = 0; j < D; j++) out[j] = t[j] * cos[j] + t[j < half ? j + half : j - half] * sin[j];
}

/* softmax(scale q.k) v for the r query heads ``q`` (r, D) of one node over the keys it may see:
   keys in order, each key's products with the r queries from one load of the key. */
static void attend_group(const float *q, int r, int D, const float *K, const float *V, int keys, int start,
                         const uint8_t *sees, float scale, float *p, float *out)
{
    float top[8];
    for (int a = 0; a < r; a++) top[a] = -INFINITY;
    for (int j = 0; j < keys; j++) {
        float *pj = p + (size_t)j * r;
        if (j >= start && !sees[j - start]) {
            for (int a = 0; a < r; a++) pj[a] = -INFINITY;
            continue;
        }
        const float *k = K + (size_t)j * D;
        for (int a = 0; a < r; a++) {
            const float *qa = q + (size_t)a * D;
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            for (int c = 0; c < D; c += 16) {
                s0 = _mm256_fmadd_ps(_mm256_loadu_ps(qa + c), _mm256_loadu_ps(k + c), s0);
                s1 = _mm256_fmadd_ps(_mm256_loadu_ps(qa + c + 8), _mm256_loadu_ps(k + c + 8), s1);
            }
            pj[a] = scale * hsum(_mm256_add_ps(s0, s1));
            if (pj[a] > top[a]) top[a] = pj[a];
        }
    }
    float total[8] = {0};
    for (int j = 0; j < keys; j++)
        for (int a = 0; a < r; a++) {
            float *v = p + (size_t)j * r + a;
            *v = *v == -INFINITY ? 0.0f : expf(*v - top[a]);
            total[a] += *v;
        }
    for (int a = 0; a < r; a++) {
        for (int c = 0; c < D; c += 32) {            /* 4 registers of the output at a time */
            __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
            for (int j = 0; j < keys; j++) {
                const float pj = p[(size_t)j * r + a];
                if (pj == 0.0f) continue;
                const __m256 w = _mm256_set1_ps(pj);
                const float *v = V + (size_t)j * D + c;
                o0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v), o0);
                o1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 8), o1);
                o2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 16), o2);
                o3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + 24), o3);
            }
            const __m256 t = _mm256_set1_ps(total[a]);
            float *o = out + (size_t)a * D + c;
            _mm256_storeu_ps(o, _mm256_div_ps(o0, t));
            _mm256_storeu_ps(o + 8, _mm256_div_ps(o1, t));
            _mm256_storeu_ps(o + 16, _mm256_div_ps(o2, t));
            _mm256_storeu_ps(o + 24, _mm256_div_ps(o3, t));
        }
    }
}

/* qkv (n, (h + 2g) D); cos, sin (n, D); kc, vc: the layer's keys and values (g, cap, D);
   allowed (n, n) or NULL for one node; out (n, h D). D a multiple of 32, h / g at most 8. */
void tree_attention(const float *qkv, int n, int h, int g, int D, const float *cos, const float *sin,
                    float *kc, float *vc, int cap, int start, const uint8_t *allowed, float scale,
                    float *out, int threads)
{
    const int width = (h + 2 * g) * D, r = h / g, keys = start + n;
    float *q = malloc((size_t)n * h * D * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *row = qkv + (size_t)i * width;
        for (int a = 0; a < h; a++) rotate(row + a * D, cos + (size_t)i * D, sin + (size_t)i * D, D, q + ((size_t)i * h + a) * D);
        for (int b = 0; b < g; b++) {
            rotate(row + (h + b) * D, cos + (size_t)i * D, sin + (size_t)i * D, D, kc + ((size_t)b * cap + start + i) * D);
            memcpy(vc + ((size_t)b * cap + start + i) * D, row + (h + g + b) * D, D * sizeof(float));
        }
    }
    uint8_t *self = NULL;
    if (!allowed) { self = calloc(1, 1); self[0] = 1; }
    #pragma omp parallel num_threads(threads)
    {
        float *p = malloc((size_t)keys * r * sizeof(float));
        #pragma omp for schedule(static)
        for (int task = 0; task < n * g; task++) {
            const int i = task / g, b = task % g;
            attend_group(q + ((size_t)i * h + b * r) * D, r, D, kc + (size_t)b * cap * D, vc + (size_t)b * cap * D,
                         keys, start, allowed ? allowed + (size_t)i * n : self, scale, p,
                         out + (size_t)i * h * D + (size_t)b * r * D);
        }
        free(p);
    }
    free(self);
    free(q);
}
