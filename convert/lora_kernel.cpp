#include "convert/lora_kernel.h"

#include <immintrin.h>

namespace ckpt {

void lora_row_ref(const float* p, uint64_t r, const float* q, uint64_t cols, float* s) {
  for (uint64_t i = 0; i < cols; ++i) s[i] = 0.0f;
  for (uint64_t k = 0; k < r; ++k) {
    const float pk = p[k];
    const float* qk = q + k * cols;
    for (uint64_t i = 0; i < cols; ++i) s[i] += pk * qk[i];
  }
}

void lora_add_row_ref(const float* p, uint64_t r, const float* q, uint64_t cols, float scale, float* row) {
  for (uint64_t i = 0; i < cols; ++i) {
    float s = 0.0f;
    for (uint64_t k = 0; k < r; ++k) s += p[k] * q[k * cols + i];
    const float delta = s * scale;
    row[i] = row[i] + delta;
  }
}

double squared_difference_ref(const float* a, const float* b, uint64_t n) {
  double s = 0;
  for (uint64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

namespace {

__attribute__((target("avx2,fma"))) double squared_difference_avx2(const float* a, const float* b, uint64_t n) {
  __m256d acc = _mm256_setzero_pd();
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(d)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(d, 1));
    acc = _mm256_fmadd_pd(lo, lo, acc);
    acc = _mm256_fmadd_pd(hi, hi, acc);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, acc);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + squared_difference_ref(a + i, b + i, n - i);
}

// 32 columns at a time in four accumulators: A's rows are read once per output row, from L1/L2.
__attribute__((target("avx2,fma"))) inline void block32(const float* p, uint64_t r, const float* q, uint64_t cols, uint64_t i, __m256 acc[4]) {
  acc[0] = acc[1] = acc[2] = acc[3] = _mm256_setzero_ps();
  for (uint64_t k = 0; k < r; ++k) {
    const __m256 pk = _mm256_broadcast_ss(p + k);
    const float* qk = q + k * cols + i;
    acc[0] = _mm256_fmadd_ps(pk, _mm256_loadu_ps(qk), acc[0]);
    acc[1] = _mm256_fmadd_ps(pk, _mm256_loadu_ps(qk + 8), acc[1]);
    acc[2] = _mm256_fmadd_ps(pk, _mm256_loadu_ps(qk + 16), acc[2]);
    acc[3] = _mm256_fmadd_ps(pk, _mm256_loadu_ps(qk + 24), acc[3]);
  }
}

__attribute__((target("avx2,fma"))) void lora_row_avx2(const float* p, uint64_t r, const float* q, uint64_t cols, float* s) {
  uint64_t i = 0;
  __m256 acc[4];
  for (; i + 32 <= cols; i += 32) {
    block32(p, r, q, cols, i, acc);
    for (int j = 0; j < 4; ++j) _mm256_storeu_ps(s + i + 8 * j, acc[j]);
  }
  for (; i < cols; ++i) {
    float v = 0.0f;
    for (uint64_t k = 0; k < r; ++k) v = __builtin_fmaf(p[k], q[k * cols + i], v);
    s[i] = v;
  }
}

__attribute__((target("avx2,fma"))) void lora_add_row_avx2(const float* p, uint64_t r, const float* q, uint64_t cols, float scale, float* row) {
  const __m256 sc = _mm256_set1_ps(scale);
  uint64_t i = 0;
  __m256 acc[4];
  for (; i + 32 <= cols; i += 32) {
    block32(p, r, q, cols, i, acc);
    for (int j = 0; j < 4; ++j) {
      // mul then add, never fused: the delta is rounded to f32 before the add, as PEFT's is.
      const __m256 delta = _mm256_mul_ps(acc[j], sc);
      _mm256_storeu_ps(row + i + 8 * j, _mm256_add_ps(_mm256_loadu_ps(row + i + 8 * j), delta));
    }
  }
  for (; i < cols; ++i) {
    float v = 0.0f;
    for (uint64_t k = 0; k < r; ++k) v = __builtin_fmaf(p[k], q[k * cols + i], v);
    const float delta = v * scale;
    row[i] = row[i] + delta;
  }
}

bool have_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

}  // namespace

double squared_difference(const float* a, const float* b, uint64_t n) {
  return have_avx2_fma() ? squared_difference_avx2(a, b, n) : squared_difference_ref(a, b, n);
}

void lora_row(const float* p, uint64_t r, const float* q, uint64_t cols, float* s) {
  if (have_avx2_fma()) return lora_row_avx2(p, r, q, cols, s);
  lora_row_ref(p, r, q, cols, s);
}

void lora_add_row(const float* p, uint64_t r, const float* q, uint64_t cols, float scale, float* row) {
  if (have_avx2_fma()) return lora_add_row_avx2(p, r, q, cols, scale, row);
  lora_add_row_ref(p, r, q, cols, scale, row);
}

}  // namespace ckpt
