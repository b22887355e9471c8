/* Per row of a forward's logits (n, V), in one pass over memory: the k largest logits and
 * their token ids, best first (equal logits in token order, so the first is argmax's pick:
 * the first maximal index), and the row's log-sum-exp (racer/model/target.py: ``row_tops``).
 * Replaces torch's argmax, topk and logsumexp, three passes that cost a step more than their
 * arithmetic at this size (about 0.2 ms each on a 49152-token row).
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include "simd.h"

/* e^x for x <= 0 to within a few ulp (Cephes' expf polynomial: 2^n e^r, |r| <= ln2 / 2) */
static inline __m256 exp_ps(__m256 x)
{
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* value v at token t into the best-first list of ``*count`` (at most k): after every entry
   not below it, so equal values keep token order */
static inline void insert(float v, int64_t t, float *vals, int64_t *ids, int *count, int k)
{
    int j = *count < k ? *count : k - 1;
    if (*count == k && !(v > vals[k - 1])) return;
    while (j > 0 && vals[j - 1] < v) {
        vals[j] = vals[j - 1];
        ids[j] = ids[j - 1];
        j--;
    }
    vals[j] = v;
    ids[j] = t;
    if (*count < k) (*count)++;
}

static void one_row(const float *x, int V, int k, int64_t *ids, float *vals, float *lse)
{
    int count = 0, t = 0;
    float worst = -INFINITY;             /* the k-th best so far (-inf until k are held) */
    for (; t + 8 <= V; t += 8) {
        int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + t), _mm256_set1_ps(worst), _CMP_GT_OQ));
        if (count < k) mask = 0xFF;
        while (mask) {
            const int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            insert(x[t + lane], t + lane, vals, ids, &count, k);
        }
        if (count == k) worst = vals[k - 1];
    }
    for (; t < V; t++) insert(x[t], t, vals, ids, &count, k);
    const float top = vals[0];
    __m256 acc = _mm256_setzero_ps();
    const __m256 m = _mm256_set1_ps(top);
    for (t = 0; t + 8 <= V; t += 8) acc = _mm256_add_ps(acc, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + t), m)));
    float sum = hsum(acc);
    for (; t < V; t++) sum += expf(x[t] - top);
    *lse = top + logf(sum);
}

/* x (n, V) float32; ids, vals (n, k), k <= V; lse (n,) */
void row_tops(const float *x, int n, int V, int k, int64_t *ids, float *vals, float *lse, int threads)
{
    #pragma omp parallel for schedule(static) num_threads(threads) if (n > 1)
    for (int i = 0; i < n; i++)
        one_row(x + (size_t)i * V, V, k, ids + (size_t)i * k, vals + (size_t)i * k, lse + i);
}
