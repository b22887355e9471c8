/* Helpers shared by the engine's C kernels (blocks.c, attention.c, layers.c). */
#ifndef RACER_SIMD_H
#define RACER_SIMD_H
#include <immintrin.h>

/* the 8 lanes of v added up: lanes 0-3 + 4-7, then pairs, then the last two */
static inline float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif
