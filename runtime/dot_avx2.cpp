// AVX2/FMA/F16C dots (this file alone is compiled with -mavx2 -mfma -mf16c; callers check the CPU
// first). Integer work follows ggml's scheme: unsigned-by-signed byte products (maddubs) summed into
// int32 per block, one float multiply-add per block with the product of the two scales.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"

namespace ckpt::runtime {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float f16(uint16_t h) { return _cvtsh_ss(h); }

// Decode streams each row once: request the same block ~12 KiB of rows ahead (every cache line of
// it), as the tiles do.
inline uint64_t prefetch_distance(uint64_t row_bytes) { return std::max<uint64_t>(4, 12288 / row_bytes) * row_bytes; }
inline void prefetch_rows_ahead(const void* block, size_t block_bytes, uint64_t distance) {
  const char* p = static_cast<const char*>(block) + distance;
  for (size_t off = 0; off < block_bytes; off += 64) _mm_prefetch(p + off, _MM_HINT_T0);
}

// Sum over 32 signed bytes of x*y, as 8 int32 lanes.
inline __m256i dot_i8(__m256i x, __m256i y) {
  const __m256i ax = _mm256_sign_epi8(x, x);
  const __m256i sy = _mm256_sign_epi8(y, x);
  return _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1));
}

// 32 nibbles of a Q4_0-style block: low nibbles are elements 0..15, high nibbles 16..31.
inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

float dot_f32(const Weight& w, uint64_t r, const void* act) {
  const float* x = static_cast<const float*>(act);
  const float* row = reinterpret_cast<const float*>(w.data + r * w.row_bytes);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  uint64_t i = 0;
  for (; i + 16 <= w.cols; i += 16) {
    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(row + i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float sum = hsum(_mm256_add_ps(a0, a1));
  for (; i < w.cols; ++i) sum += row[i] * x[i];
  return sum;
}

float dot_f16(const Weight& w, uint64_t r, const void* act) {
  const float* x = static_cast<const float*>(act);
  const auto* row = reinterpret_cast<const uint16_t*>(w.data + r * w.row_bytes);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
  uint64_t i = 0;
  auto load = [&](uint64_t k) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k))); };
  for (; i + 32 <= w.cols; i += 32) {
    a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load(i + 8), _mm256_loadu_ps(x + i + 8), a1);
    a2 = _mm256_fmadd_ps(load(i + 16), _mm256_loadu_ps(x + i + 16), a2);
    a3 = _mm256_fmadd_ps(load(i + 24), _mm256_loadu_ps(x + i + 24), a3);
  }
  for (; i + 8 <= w.cols; i += 8) a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  for (; i < w.cols; ++i) sum += f16(row[i]) * x[i];
  return sum;
}

float dot_bf16(const Weight& w, uint64_t r, const void* act) {
  const float* x = static_cast<const float*>(act);
  const auto* row = reinterpret_cast<const uint16_t*>(w.data + r * w.row_bytes);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  auto load = [&](uint64_t k) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  };
  uint64_t i = 0;
  for (; i + 16 <= w.cols; i += 16) {
    a0 = _mm256_fmadd_ps(load(i), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(load(i + 8), _mm256_loadu_ps(x + i + 8), a1);
  }
  float sum = hsum(_mm256_add_ps(a0, a1));
  for (; i < w.cols; ++i) {
    const uint32_t bits = uint32_t{row[i]} << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    sum += v * x[i];
  }
  return sum;
}

float dot_q8_0(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8_0*>(act);
  const auto* wb = reinterpret_cast<const BlockQ8_0*>(w.data + r * w.row_bytes);
  __m256 acc = _mm256_setzero_ps();
  for (uint64_t b = 0; b < w.cols / 32; ++b) {
    const __m256i qw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256 d = _mm256_set1_ps(f16(wb[b].d) * f16(xb[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(qw, qx)), acc);
  }
  return hsum(acc);
}

float dot_q4_0(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8_0*>(act);
  const auto* wb = reinterpret_cast<const BlockQ4_0*>(w.data + r * w.row_bytes);
  const __m256i eight = _mm256_set1_epi8(8);
  __m256 acc = _mm256_setzero_ps();
  for (uint64_t b = 0; b < w.cols / 32; ++b) {
    const __m256i qw = _mm256_sub_epi8(unpack_nibbles(wb[b].qs), eight);
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256 d = _mm256_set1_ps(f16(wb[b].d) * f16(xb[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(qw, qx)), acc);
  }
  return hsum(acc);
}

float dot_iq4_nl(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8_0*>(act);
  const auto* wb = reinterpret_cast<const BlockIQ4_NL*>(w.data + r * w.row_bytes);
  const __m128i table128 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
  const __m256i table = _mm256_set_m128i(table128, table128);
  __m256 acc = _mm256_setzero_ps();
  for (uint64_t b = 0; b < w.cols / 32; ++b) {
    const __m256i qw = _mm256_shuffle_epi8(table, unpack_nibbles(wb[b].qs));
    const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
    const __m256 d = _mm256_set1_ps(f16(wb[b].d) * f16(xb[b].d));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_i8(qw, qx)), acc);
  }
  return hsum(acc);
}

// Q4_K's 12 packed bytes -> 8 six-bit scales and 8 six-bit mins.
// (The same bit layout as ggml's get_scale_min_k4, on 32-bit words: 4 scales or mins per operation.)
inline void q4k_scales_mins(const uint8_t* q, uint8_t* sc, uint8_t* m) {
  uint32_t u[3];
  std::memcpy(u, q, 12);
  constexpr uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, top2 = 0x03030303;
  const uint32_t sc_lo = u[0] & low6;
  const uint32_t m_lo = u[1] & low6;
  const uint32_t sc_hi = (u[2] & low4) | (((u[0] >> 6) & top2) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & low4) | (((u[1] >> 6) & top2) << 4);
  std::memcpy(sc, &sc_lo, 4);
  std::memcpy(sc + 4, &sc_hi, 4);
  std::memcpy(m, &m_lo, 4);
  std::memcpy(m + 4, &m_hi, 4);
}

float dot_q4_k(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8K*>(act);
  const auto* wb = reinterpret_cast<const BlockQ4_K*>(w.data + r * w.row_bytes);
  const uint64_t ahead = prefetch_distance(w.row_bytes);
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_min = _mm_setzero_ps();
  for (uint64_t b = 0; b < w.cols / 256; ++b) {
    prefetch_rows_ahead(&wb[b], sizeof(BlockQ4_K), ahead);
    uint8_t sc[8], m[8];
    q4k_scales_mins(wb[b].scales, sc, m);
    // d and dmin are adjacent f16s: one conversion for both.
    const __m128 d_dmin = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(wb[b].d | uint32_t{wb[b].dmin} << 16))),
                                     _mm_set1_ps(xb[b].d));
    // mins . (sums of the activation's 32-element sub-blocks), 8 lanes at once.
    const __m128i pair_sums = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb[b].bsums)),
                                             _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb[b].bsums + 8)));
    int64_t mins_packed;
    std::memcpy(&mins_packed, m, 8);
    const __m128i prod = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(mins_packed)), pair_sums);
    acc_min = _mm_fmadd_ps(_mm_shuffle_ps(d_dmin, d_dmin, 0x55), _mm_cvtepi32_ps(prod), acc_min);
    __m256i sumi = _mm256_setzero_si256();
    const uint8_t* q4 = wb[b].qs;
    const int8_t* q8 = xb[b].qs;
    for (int j = 0; j < 4; ++j) {
      const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q4 + 32 * j));
      const __m256i lo = _mm256_and_si256(bytes, low4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
      const __m256i x_lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64 * j));
      const __m256i x_hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 64 * j + 32));
      const __m256i p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), _mm256_set1_epi16(sc[2 * j]));
      const __m256i p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), _mm256_set1_epi16(sc[2 * j + 1]));
      sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(_mm_cvtss_f32(d_dmin)), _mm256_cvtepi32_ps(sumi), acc);
  }
  __m128 mins = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));
  mins = _mm_add_ss(mins, _mm_movehdup_ps(mins));
  return hsum(acc) - _mm_cvtss_f32(mins);
}

float dot_q6_k(const Weight& w, uint64_t r, const void* act) {
  const auto* xb = static_cast<const BlockQ8K*>(act);
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w.data + r * w.row_bytes);
  const uint64_t ahead = prefetch_distance(w.row_bytes);
  const __m256i low4 = _mm256_set1_epi8(0x0F), two_bits = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
  __m256 acc = _mm256_setzero_ps();
  for (uint64_t b = 0; b < w.cols / 256; ++b) {
    prefetch_rows_ahead(&wb[b], sizeof(BlockQ6_K), ahead);
    const uint8_t* ql = wb[b].ql;
    const uint8_t* qh = wb[b].qh;
    const int8_t* sc = wb[b].scales;
    const int8_t* q8 = xb[b].qs;
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(h, two_bits), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), two_bits), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), two_bits), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), two_bits), 4)),
      };
      for (int g = 0; g < 4; ++g) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q8 + 32 * g));
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[g], x), _mm256_maddubs_epi16(m32, x));
        // int16 lanes 0..7 hold elements 0..15 (scale sc[2g]), lanes 8..15 elements 16..31 (sc[2g+1]).
        const __m256i scales = _mm256_set_m128i(_mm_set1_epi16(sc[2 * g + 1]), _mm_set1_epi16(sc[2 * g]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scales));
      }
      ql += 64;
      qh += 32;
      sc += 8;
      q8 += 128;
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(f16(wb[b].d) * xb[b].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

// bitsandbytes 4-bit: 8 codes at a time (high nibble first) looked up in the 16-float code book with
// two 8-lane permutes, summed per block, then scaled by the block's absmax.
float dot_bnb4(const Weight& w, uint64_t r, const void* act) {
  const float* x = static_cast<const float*>(act);
  const auto* packed = reinterpret_cast<const uint8_t*>(w.data + r * w.row_bytes);
  const float* absmax = w.bnb4_absmax.data() + r * (w.cols / w.bnb4_block);
  const __m256 code_lo = _mm256_loadu_ps(w.bnb4_code.data()), code_hi = _mm256_loadu_ps(w.bnb4_code.data() + 8);
  const __m128i low4 = _mm_set1_epi32(15);
  const __m256i seven = _mm256_set1_epi32(7);
  __m256 acc = _mm256_setzero_ps();
  for (uint64_t b = 0; b < w.cols / w.bnb4_block; ++b) {
    __m256 block = _mm256_setzero_ps();
    for (uint64_t i = b * w.bnb4_block; i < (b + 1) * w.bnb4_block; i += 8) {
      int32_t four;
      std::memcpy(&four, packed + i / 2, 4);
      const __m128i bytes = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(four));
      const __m128i hi = _mm_srli_epi32(bytes, 4), lo = _mm_and_si128(bytes, low4);
      const __m256i idx = _mm256_set_m128i(_mm_unpackhi_epi32(hi, lo), _mm_unpacklo_epi32(hi, lo));
      const __m256 v = _mm256_blendv_ps(_mm256_permutevar8x32_ps(code_lo, idx), _mm256_permutevar8x32_ps(code_hi, idx),
                                        _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, seven)));
      block = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + i), block);
    }
    acc = _mm256_fmadd_ps(block, _mm256_set1_ps(absmax[b]), acc);
  }
  return hsum(acc);
}

}  // namespace

bool cpu_supports_avx2_kernels() {
  static const bool has = cpu_has_avx2_f16c() && __builtin_cpu_supports("fma");
  return has;
}

bool cpu_supports_avx512_kernels() {
  static const bool has = cpu_supports_avx2_kernels() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512vnni");
  return has;
}

DotFn avx2_dot_for(const Weight& w) {
  if (w.bnb4) return w.bnb4_block % 8 == 0 ? dot_bnb4 : nullptr;
  switch (w.dtype) {
    case DType::F32: return dot_f32;
    case DType::F16: return dot_f16;
    case DType::BF16: return dot_bf16;
    case DType::Q8_0: return dot_q8_0;
    case DType::Q4_0: return dot_q4_0;
    case DType::IQ4_NL: return dot_iq4_nl;
    case DType::Q4_K: return dot_q4_k;
    case DType::Q6_K: return dot_q6_k;
    default: return nullptr;
  }
}

}  // namespace ckpt::runtime
