// AVX2 versions of the hottest quantizers, bit-identical to the scalar references (which stay the
// oracle: tests compare the two on random data and on constructed ties). Every operation is the
// scalar one applied lane-wise: same f32 products and sums, same rounding; max is order-independent.
#include <cpuid.h>
#include <immintrin.h>

#include <cstdint>
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "quantize/simd.h"

namespace ckpt::simd {

namespace {

__attribute__((target("avx2"))) inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

__attribute__((target("avx2"))) inline __m256 abs_ps(__m256 v) {
  return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

// 32 int32 lanes (4 registers, in element order) -> 32 bytes in element order.
__attribute__((target("avx2"))) inline __m256i pack_32_to_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);  // lanes interleave per 128-bit half
  const __m256i cd = _mm256_packs_epi32(c, d);
  const __m256i abcd = _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

}  // namespace

__attribute__((target("avx2,f16c"))) inline uint16_t to_f16(float d) {
  return static_cast<uint16_t>(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(d), _MM_FROUND_TO_NEAREST_INT), 0));
}

// Scales of 8 blocks at once: the same f32 divisions per lane, one f16 conversion for all 8.
__attribute__((target("avx2,f16c"))) inline void scales_x8(const float* numerators, float divisor, float* d_out, float* id_out,
                                                          uint16_t* d_f16) {
  const __m256 d = _mm256_div_ps(_mm256_loadu_ps(numerators), _mm256_set1_ps(divisor));
  const __m256 nonzero = _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_OQ);
  const __m256 id = _mm256_and_ps(nonzero, _mm256_div_ps(_mm256_set1_ps(1.0f), d));
  _mm256_storeu_ps(d_out, d);
  _mm256_storeu_ps(id_out, id);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d_f16), _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT));
}

__attribute__((target("avx2,f16c"))) inline void q8_0_block(const float* v, float id, uint16_t d_f16, std::byte* out) {
  const __m256 vid = _mm256_set1_ps(id);
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    // roundf (half away from zero), exactly: truncate, then step away when the dropped part is >= 0.5.
    const __m256 p = _mm256_mul_ps(_mm256_loadu_ps(v + 8 * k), vid);
    const __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(p, t));
    const __m256 away = _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                      _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(p, _mm256_set1_ps(-0.0f))));
    q[k] = _mm256_cvtps_epi32(_mm256_add_ps(t, away));
  }
  BlockQ8_0 blk;
  blk.d = d_f16;
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(blk.qs), pack_32_to_bytes(q[0], q[1], q[2], q[3]));
  std::memcpy(out, &blk, sizeof blk);
}

__attribute__((target("avx2,f16c"))) inline float block_amax(const float* v) {
  const __m256 a = _mm256_max_ps(abs_ps(_mm256_loadu_ps(v)), abs_ps(_mm256_loadu_ps(v + 8)));
  const __m256 b = _mm256_max_ps(abs_ps(_mm256_loadu_ps(v + 16)), abs_ps(_mm256_loadu_ps(v + 24)));
  return hmax(_mm256_max_ps(a, b));
}

// The driver both 32-block quantizers share: a per-block statistic (signed or absolute max), scales
// for 8 blocks at once (statistic / divisor), then each block written with its scale.
template <typename Statistic, typename WriteBlock>
__attribute__((target("avx2,f16c"))) inline void quantize_blocks(const float* x, size_t n_blocks, std::byte* out, size_t block_bytes,
                                                                float divisor, Statistic statistic, WriteBlock write_block) {
  size_t b = 0;
  alignas(32) float stat[8], d[8], id[8];
  alignas(16) uint16_t h[8];
  for (; b + 8 <= n_blocks; b += 8) {
    for (int k = 0; k < 8; ++k) stat[k] = statistic(x + 32 * (b + k));
    scales_x8(stat, divisor, d, id, h);
    for (int k = 0; k < 8; ++k) write_block(x + 32 * (b + k), id[k], h[k], out + block_bytes * (b + k));
  }
  for (; b < n_blocks; ++b) {
    const float dd = statistic(x + 32 * b) / divisor;
    write_block(x + 32 * b, dd != 0.0f ? 1.0f / dd : 0.0f, to_f16(dd), out + block_bytes * b);
  }
}

__attribute__((target("avx2,f16c"))) void quantize_q8_0_avx2(const float* x, size_t n_blocks, std::byte* out) {
  quantize_blocks(x, n_blocks, out, sizeof(BlockQ8_0), 127.0f, block_amax, q8_0_block);
}

__attribute__((target("avx2,f16c"))) inline void q4_0_block(const float* v, float id, uint16_t d_f16, std::byte* out) {
  const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(8.5f);
  __m256i q[4];
  for (int k = 0; k < 4; ++k) {
    q[k] = _mm256_min_epi32(_mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(v + 8 * k), vid), half)),
                            _mm256_set1_epi32(15));
  }
  alignas(32) uint8_t qs[32];
  _mm256_store_si256(reinterpret_cast<__m256i*>(qs), pack_32_to_bytes(q[0], q[1], q[2], q[3]));
  BlockQ4_0 blk;
  blk.d = d_f16;
  const __m128i lo = _mm_load_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i hi = _mm_load_si128(reinterpret_cast<const __m128i*>(qs + 16));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(blk.qs), _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
  std::memcpy(out, &blk, sizeof blk);
}

__attribute__((target("avx2"))) inline float hmin(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// The element of largest magnitude with its sign; the scalar reference keeps the FIRST one (strict <).
// The largest and the smallest element decide it unless both signs reach the same magnitude.
__attribute__((target("avx2,f16c"))) inline float block_signed_max(const float* v) {
  const __m256 a = _mm256_loadu_ps(v), b = _mm256_loadu_ps(v + 8), c = _mm256_loadu_ps(v + 16), d = _mm256_loadu_ps(v + 24);
  const float hi = hmax(_mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d)));
  const float lo = hmin(_mm256_min_ps(_mm256_min_ps(a, b), _mm256_min_ps(c, d)));
  if (hi > -lo) return hi > 0.0f ? hi : 0.0f;
  if (-lo > hi) return lo;
  if (!(hi > 0.0f)) return 0.0f;  // all zeros
  for (int j = 0; j < 32; ++j) {  // a tie between +m and -m: the first one wins
    if (std::fabs(v[j]) == hi) return v[j];
  }
  return hi;
}

// Eight horizontal reductions at once (the hadd pattern with max/min): lane k of the result reduces v[k].
template <bool kMax>
__attribute__((target("avx2"))) inline __m256 max_or_min(__m256 a, __m256 b) {
  if constexpr (kMax) {
    return _mm256_max_ps(a, b);
  } else {
    return _mm256_min_ps(a, b);
  }
}
template <bool kMax>
__attribute__((target("avx2"))) inline __m256 reduce_pairs(__m256 a, __m256 b) {
  return max_or_min<kMax>(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}
template <bool kMax>
__attribute__((target("avx2"))) inline __m256 reduce_x8(const __m256* v) {
  const __m256 s0123 = reduce_pairs<kMax>(reduce_pairs<kMax>(v[0], v[1]), reduce_pairs<kMax>(v[2], v[3]));
  const __m256 s4567 = reduce_pairs<kMax>(reduce_pairs<kMax>(v[4], v[5]), reduce_pairs<kMax>(v[6], v[7]));
  return max_or_min<kMax>(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

// block_signed_max of 8 consecutive blocks, one per lane, without a data-dependent branch per block
// (on random weights "is the largest magnitude positive?" is a coin flip the predictor loses). Lanes
// where +m and -m tie go back to the scalar rule (the first one wins).
__attribute__((target("avx2,f16c"))) inline __m256 signed_max_x8(const float* x) {
  __m256 hi[8], lo[8];
  for (int k = 0; k < 8; ++k) {
    const float* v = x + 32 * k;
    const __m256 a = _mm256_loadu_ps(v), b = _mm256_loadu_ps(v + 8), c = _mm256_loadu_ps(v + 16), d = _mm256_loadu_ps(v + 24);
    hi[k] = _mm256_max_ps(_mm256_max_ps(a, b), _mm256_max_ps(c, d));
    lo[k] = _mm256_min_ps(_mm256_min_ps(a, b), _mm256_min_ps(c, d));
  }
  const __m256 h = reduce_x8<true>(hi);
  const __m256 l = reduce_x8<false>(lo);
  const __m256 neg_l = _mm256_sub_ps(_mm256_setzero_ps(), l);
  const __m256 pos_wins = _mm256_cmp_ps(h, neg_l, _CMP_GT_OQ);
  const __m256 neg_wins = _mm256_cmp_ps(neg_l, h, _CMP_GT_OQ);
  const __m256 h_pos = _mm256_cmp_ps(h, _mm256_setzero_ps(), _CMP_GT_OQ);
  __m256 r = _mm256_or_ps(_mm256_and_ps(_mm256_and_ps(pos_wins, h_pos), h), _mm256_and_ps(neg_wins, l));
  const int ties = _mm256_movemask_ps(_mm256_andnot_ps(_mm256_or_ps(pos_wins, neg_wins), h_pos));
  if (ties != 0) {
    alignas(32) float out[8];
    _mm256_store_ps(out, r);
    for (int k = 0; k < 8; ++k) {
      if (ties & (1 << k)) out[k] = block_signed_max(x + 32 * k);
    }
    r = _mm256_load_ps(out);
  }
  return r;
}

__attribute__((target("avx2,f16c"))) void quantize_q4_0_avx2(const float* x, size_t n_blocks, std::byte* out) {
  size_t b = 0;
  alignas(32) float stat[8], d[8], id[8];
  alignas(16) uint16_t h[8];
  for (; b + 8 <= n_blocks; b += 8) {
    _mm256_store_ps(stat, signed_max_x8(x + 32 * b));
    scales_x8(stat, -8.0f, d, id, h);
    for (int k = 0; k < 8; ++k) q4_0_block(x + 32 * (b + k), id[k], h[k], out + sizeof(BlockQ4_0) * (b + k));
  }
  quantize_blocks(x + 32 * b, n_blocks - b, out + sizeof(BlockQ4_0) * b, sizeof(BlockQ4_0), -8.0f, block_signed_max, q4_0_block);
}

// NF4 codes of v * inv for n values: the number of thresholds each value exceeds (bnb's tree).
__attribute__((target("avx2"))) void nf4_codes_avx2(const float* x, size_t n, float inv, const float* thresholds, uint8_t* codes) {
  const __m256 vinv = _mm256_set1_ps(inv);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv);
    __m256i count = _mm256_setzero_si256();
    for (int k = 0; k < 15; ++k) {
      // cmp yields -1 per lane where v > t (false for NaN, as the scalar comparison)
      count = _mm256_sub_epi32(count, _mm256_castps_si256(_mm256_cmp_ps(v, _mm256_set1_ps(thresholds[k]), _CMP_GT_OQ)));
    }
    alignas(32) int32_t c[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(c), count);
    for (int k = 0; k < 8; ++k) codes[i + k] = static_cast<uint8_t>(c[k]);
  }
  for (; i < n; ++i) {
    const float v = x[i] * inv;
    uint8_t c = 0;
    for (int k = 0; k < 15; ++k) c = static_cast<uint8_t>(c + (v > thresholds[k] ? 1 : 0));
    codes[i] = c;
  }
}

bool cpu_has_avx2() {
  // The kernels also use F16C for their scales (CPUID leaf 1, ECX bit 29); every AVX2 CPU has it.
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
  }();
  return has;
}

}  // namespace ckpt::simd

namespace ckpt::simd {

namespace {

__attribute__((target("avx2"))) inline __m256i nearest_int8(__m256 v) {
  // ggml's nearest_int lane-wise: add 1.5 * 2^23 and read the low mantissa bits.
  const __m256i bits = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
  return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x00400000));
}

__attribute__((target("avx2"))) inline __m256i clamp_epi32(__m256i v, int lo, int hi) {
  return _mm256_max_epi32(_mm256_set1_epi32(lo), _mm256_min_epi32(_mm256_set1_epi32(hi), v));
}

__attribute__((target("avx2"))) inline __m256 blend(__m256 a, __m256 b, __m256 mask) { return _mm256_blendv_ps(a, b, mask); }

}  // namespace

// make_qkx2_quants for the 8 sub-blocks of 32 of one K-quant super-block at once: lane k follows
// sub-block k through exactly the scalar sequence of f32 operations, so results are bit-identical.
__attribute__((target("avx2"))) void fit_qkx2_x8(const float* x, int nmax, float rmin, float rdelta, int nstep,
                                                 uint8_t* L_out, float* scales, float* the_mins) {
  // Transpose: X[i] holds element i of each sub-block.
  __m256 X[32], W[32];
  const __m256i stride = _mm256_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224);
  for (int i = 0; i < 32; ++i) X[i] = _mm256_i32gather_ps(x + i, stride, 4);
  const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
  // Weights as in quantize_row_q{4,5}_K_ref: sqrt(mean x^2) + |x|.
  __m256 sum_x2 = zero;
  for (int i = 0; i < 32; ++i) sum_x2 = _mm256_add_ps(sum_x2, _mm256_mul_ps(X[i], X[i]));
  const __m256 av_x = _mm256_sqrt_ps(_mm256_div_ps(sum_x2, _mm256_set1_ps(32.0f)));
  for (int i = 0; i < 32; ++i) W[i] = _mm256_add_ps(av_x, _mm256_andnot_ps(sign, X[i]));

  __m256 min = X[0], max = X[0], sum_w = W[0], sum_x = _mm256_mul_ps(W[0], X[0]);
  for (int i = 1; i < 32; ++i) {
    min = _mm256_min_ps(X[i], min);
    max = _mm256_max_ps(X[i], max);
    sum_w = _mm256_add_ps(sum_w, W[i]);
    sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(W[i], X[i]));
  }
  min = blend(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
  const __m256 flat = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);  // lanes returning early (all L = 0)
  const __m256 range = _mm256_sub_ps(max, min);
  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(nmax)), range);
  __m256 scale = _mm256_div_ps(_mm256_set1_ps(1.0f), iscale);
  __m256i L[32], Laux[32];
  __m256 best_error = zero;
  for (int i = 0; i < 32; ++i) {
    L[i] = clamp_epi32(nearest_int8(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min))), 0, nmax);
    __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(L[i])), min), X[i]);
    diff = _mm256_mul_ps(diff, diff);
    best_error = _mm256_add_ps(best_error, _mm256_mul_ps(W[i], diff));
  }
  for (int is = 0; is <= nstep; ++is) {
    const float numerator = rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax);
    // The reference divides by (max - min) with the min of the best candidate so far.
    iscale = _mm256_div_ps(_mm256_set1_ps(numerator), _mm256_sub_ps(max, min));
    __m256 sum_l = zero, sum_l2 = zero, sum_xl = zero;
    for (int i = 0; i < 32; ++i) {
      Laux[i] = clamp_epi32(nearest_int8(_mm256_mul_ps(iscale, _mm256_sub_ps(X[i], min))), 0, nmax);
      const __m256 l = _mm256_cvtepi32_ps(Laux[i]);
      const __m256 wl = _mm256_mul_ps(W[i], l);
      sum_l = _mm256_add_ps(sum_l, wl);
      sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, l));
      sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, X[i]));
    }
    const __m256 D = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
    const __m256 ok = _mm256_cmp_ps(D, zero, _CMP_GT_OQ);
    if (_mm256_movemask_ps(ok) == 0) continue;
    __m256 this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), D);
    __m256 this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), D);
    const __m256 positive = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
    this_min = blend(this_min, zero, positive);
    this_scale = blend(this_scale, _mm256_div_ps(sum_xl, sum_l2), positive);
    __m256 cur_error = zero;
    for (int i = 0; i < 32; ++i) {
      __m256 diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, _mm256_cvtepi32_ps(Laux[i])), this_min), X[i]);
      diff = _mm256_mul_ps(diff, diff);
      cur_error = _mm256_add_ps(cur_error, _mm256_mul_ps(W[i], diff));
    }
    const __m256 better = _mm256_and_ps(ok, _mm256_cmp_ps(cur_error, best_error, _CMP_LT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256i better_i = _mm256_castps_si256(better);
    for (int i = 0; i < 32; ++i) L[i] = _mm256_blendv_epi8(L[i], Laux[i], better_i);
    best_error = blend(best_error, cur_error, better);
    scale = blend(scale, this_scale, better);
    min = blend(min, this_min, better);
  }
  // Flat sub-blocks: L = 0, scale 0, the_min = -min (computed before any refinement).
  scale = blend(scale, zero, flat);
  alignas(32) float s[8], m[8];
  _mm256_store_ps(s, scale);
  _mm256_store_ps(m, _mm256_xor_ps(min, sign));
  const int flat_mask = _mm256_movemask_ps(flat);
  for (int k = 0; k < 8; ++k) {
    scales[k] = s[k];
    the_mins[k] = m[k];
  }
  for (int i = 0; i < 32; ++i) {
    alignas(32) int32_t l[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(l), L[i]);
    for (int k = 0; k < 8; ++k) L_out[32 * k + i] = (flat_mask >> k) & 1 ? 0 : static_cast<uint8_t>(l[k]);
  }
}

}  // namespace ckpt::simd

namespace ckpt::simd {

namespace {
__attribute__((target("avx2"))) inline __m256i qx_codes(__m256 iscale, __m256 x, __m256i lo, __m256i hi) {
  return _mm256_max_epi32(lo, _mm256_min_epi32(hi, nearest_int8(_mm256_mul_ps(iscale, x))));
}
}  // namespace

// make_qx_quants (rmse_type 1: weights x^2) for 8 sub-blocks of 16 at once, Q6_K's scale search:
// lane k follows sub-block k through the scalar sequence of f32 operations (separate multiplies and
// adds, the 19 candidate scales in the same order), so the codes and scales are bit-identical.
__attribute__((target("avx2"))) void fit_qx_x8(const float* x, int nmax, int8_t* L_out, float* scales) {
  __m256 X[16];
  const __m256i stride = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112);
  for (int i = 0; i < 16; ++i) X[i] = _mm256_i32gather_ps(x + i, stride, 4);
  const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
  // The first element of largest magnitude, with its sign (strictly greater, as the scalar scan).
  __m256 amax = zero, max = zero;
  for (int i = 0; i < 16; ++i) {
    const __m256 ax = _mm256_andnot_ps(sign, X[i]);
    const __m256 greater = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
    amax = blend(amax, ax, greater);
    max = blend(max, X[i], greater);
  }
  const __m256 tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(1e-15f), _CMP_LT_OQ);  // lanes returning 0
  const __m256i lo = _mm256_set1_epi32(-nmax), hi = _mm256_set1_epi32(nmax - 1);
  __m256 W[16], WX[16];
  for (int i = 0; i < 16; ++i) {
    W[i] = _mm256_mul_ps(X[i], X[i]);
    WX[i] = _mm256_mul_ps(W[i], X[i]);
  }
  __m256i L[16];
  __m256 iscale = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(-nmax)), max);
  __m256 sumlx = zero, suml2 = zero;
  for (int i = 0; i < 16; ++i) {
    L[i] = qx_codes(iscale, X[i], lo, hi);
    const __m256 l = _mm256_cvtepi32_ps(L[i]);
    sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(WX[i], l));
    suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], l), l));
  }
  __m256 scale = blend(_mm256_div_ps(sumlx, suml2), zero, _mm256_cmp_ps(suml2, zero, _CMP_EQ_OQ));
  __m256 best = _mm256_mul_ps(scale, sumlx);
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    const float numerator = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is));
    iscale = _mm256_div_ps(_mm256_set1_ps(numerator), max);
    __m256i cand[16];
    sumlx = suml2 = zero;
    for (int i = 0; i < 16; ++i) {
      cand[i] = qx_codes(iscale, X[i], lo, hi);
      const __m256 l = _mm256_cvtepi32_ps(cand[i]);
      sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(WX[i], l));
      suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(W[i], l), l));
    }
    const __m256 better = _mm256_and_ps(_mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
                                        _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ));
    if (_mm256_movemask_ps(better) == 0) continue;
    const __m256i take = _mm256_castps_si256(better);
    for (int i = 0; i < 16; ++i) L[i] = _mm256_blendv_epi8(L[i], cand[i], take);
    scale = blend(scale, _mm256_div_ps(sumlx, suml2), better);
    best = blend(best, _mm256_mul_ps(scale, sumlx), better);
  }
  scale = blend(scale, zero, tiny);
  _mm256_storeu_ps(scales, scale);
  const __m256i offset = _mm256_set1_epi32(nmax);
  const __m256i tiny_i = _mm256_castps_si256(tiny);
  alignas(32) int32_t lanes[8];
  for (int i = 0; i < 16; ++i) {
    // Lanes below the epsilon store L = 0 (the scalar early return), others l + nmax.
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), _mm256_andnot_si256(tiny_i, _mm256_add_epi32(L[i], offset)));
    for (int k = 0; k < 8; ++k) L_out[16 * k + i] = static_cast<int8_t>(lanes[k]);
  }
}

}  // namespace ckpt::simd

namespace ckpt::simd {

__attribute__((target("avx2"))) float absmax_avx2(const float* x, size_t n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m = _mm256_setzero_ps();
  // max_ps(a, b) returns b unless a > b: |x| first keeps the running max when |x| is NaN.
  for (size_t i = 0; i + 8 <= n; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, m);
  float amax = 0.0f;
  for (float v : lanes) amax = std::max(amax, v);
  return amax;
}

}  // namespace ckpt::simd
