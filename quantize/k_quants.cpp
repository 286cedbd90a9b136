// Q4_K, Q5_K, Q6_K: ggml's quantize_row_*_ref (llama-quantize's path without an imatrix) and their
// dequantizers. The helpers follow ggml-quants.c operation for operation, in the same f32 order, so
// the bytes match; the file is compiled without FMA contraction.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "quantize/simd.h"

namespace ckpt {

namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest (ties to even) via the 1.5*2^23 trick ggml uses; |f| must stay below 2^22.
int nearest_int(float f) {
  const float v = f + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007FFFFF) - 0x00400000;
}

// Symmetric quants with a search over 19 scales (ggml make_qx_quants, rmse_type 1: weights x^2).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  float iscale = static_cast<float>(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * static_cast<float>(l);
      suml2 += w * static_cast<float>(l) * static_cast<float>(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Asymmetric quants (scale and min) with a weighted search (ggml make_qkx2_quants).
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    std::fill(L, L + n, uint8_t{0});
    *the_min = -min;
    return 0.0f;
  }
  float iscale = static_cast<float>(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * static_cast<float>(L[i]) + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * static_cast<float>(is) + static_cast<float>(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * static_cast<float>(l);
      sum_l2 += w * static_cast<float>(l) * static_cast<float>(l);
      sum_xl += w * static_cast<float>(l) * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * static_cast<float>(Laux[i]) + this_min - x[i];
        diff = diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        std::copy(Laux, Laux + n, L);
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// Shared by Q4_K and Q5_K: per-32 scales/mins fitted by make_qkx2_quants, quantized to 6 bits
// against the super-block's largest, then the quants recomputed with the stored scales.
template <typename Block>
void fit_k_scales(const float* x, Block& b, uint8_t* L, int nmax, float rmin, int nstep, bool use_simd) {
  float mins[kQK_K / 32], scales[kQK_K / 32], weights[32];
  uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  if (use_simd) {
    simd::fit_qkx2_x8(x, nmax, rmin, 0.1f, nstep, L, scales, mins);
  } else {
    for (int j = 0; j < kQK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep);
    }
  }
  for (int j = 0; j < kQK_K / 32; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  for (int j = 0; j < kQK_K / 32; ++j) {
    const uint8_t ls = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_scale * scales[j])))));
    const uint8_t lm = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_min * mins[j])))));
    if (j < 4) {
      b.scales[j] = ls;
      b.scales[j + 4] = lm;
    } else {
      b.scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
      b.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      b.scales[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  b.d = f32_to_f16(max_scale / 63.f);
  b.dmin = f32_to_f16(max_min / 63.f);
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, b.scales, &sc, &m);
    const float d = f16_to_f32(b.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(b.dmin) * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

}  // namespace

void quantize_q4_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd);
void quantize_q5_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd);

void quantize_q4_k(std::span<const float> x, std::span<std::byte> out) { quantize_q4_k_impl(x, out, simd::cpu_has_avx2()); }
void quantize_q5_k(std::span<const float> x, std::span<std::byte> out) { quantize_q5_k_impl(x, out, simd::cpu_has_avx2()); }
void quantize_q4_k_ref(std::span<const float> x, std::span<std::byte> out) { quantize_q4_k_impl(x, out, false); }
void quantize_q5_k_ref(std::span<const float> x, std::span<std::byte> out) { quantize_q5_k_impl(x, out, false); }

void quantize_q4_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const float* v = x.data() + i * kQK_K;
    BlockQ4_K b{};
    uint8_t L[kQK_K];
    fit_k_scales(v, b, L, 15, -1.f, 20, use_simd);
    uint8_t* q = b.qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
    std::memcpy(out.data() + i * sizeof b, &b, sizeof b);
  }
}

void quantize_q5_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const float* v = x.data() + i * kQK_K;
    BlockQ5_K b{};
    uint8_t L[kQK_K];
    fit_k_scales(v, b, L, 31, -0.5f, 15, use_simd);
    uint8_t* ql = b.qs;
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < kQK_K; n += 64) {
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          b.qh[j] |= m1;
        }
        if (l2 > 15) {
          l2 -= 16;
          b.qh[j] |= m2;
        }
        ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
      m1 = static_cast<uint8_t>(m1 << 2);
      m2 = static_cast<uint8_t>(m2 << 2);
      ql += 32;
    }
    std::memcpy(out.data() + i * sizeof b, &b, sizeof b);
  }
}

void quantize_q6_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd);
void quantize_q6_k(std::span<const float> x, std::span<std::byte> out) { quantize_q6_k_impl(x, out, simd::cpu_has_avx2()); }
void quantize_q6_k_ref(std::span<const float> x, std::span<std::byte> out) { quantize_q6_k_impl(x, out, false); }

void quantize_q6_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const float* v = x.data() + i * kQK_K;
    BlockQ6_K b{};
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    if (use_simd) {
      simd::fit_qx_x8(v, 32, L, scales);
      simd::fit_qx_x8(v + 128, 32, L + 128, scales + 8);
    }
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = use_simd ? scales[ib] : make_qx_quants(16, 32, v + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    if (max_abs_scale >= kGroupMaxEps) {
      const float iscale = -128.f / max_scale;
      b.d = f32_to_f16(1 / iscale);
      for (int ib = 0; ib < kQK_K / 16; ++ib) b.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
      for (int j = 0; j < kQK_K / 16; ++j) {
        const float d = f16_to_f32(b.d) * static_cast<float>(b.scales[j]);
        if (d == 0.0f) continue;
        for (int ii = 0; ii < 16; ++ii) {
          const int l = nearest_int(v[16 * j + ii] / d);
          L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
        }
      }
      uint8_t* ql = b.ql;
      uint8_t* qh = b.qh;
      for (int j = 0; j < kQK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
          ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
          ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
          qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                       ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
      }
    }  // else: an all-zero block stays zero (d = 0)
    std::memcpy(out.data() + i * sizeof b, &b, sizeof b);
  }
}

void dequantize_q4_k(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK_K; ++i) {
    BlockQ4_K b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d), min = f16_to_f32(b.dmin);
    float* y = out.data() + i * kQK_K;
    const uint8_t* q = b.qs;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is, b.scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
    }
  }
}

void dequantize_q5_k(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK_K; ++i) {
    BlockQ5_K b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d), min = f16_to_f32(b.dmin);
    float* y = out.data() + i * kQK_K;
    const uint8_t* ql = b.qs;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is, b.scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (b.qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (b.qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

void dequantize_q6_k(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK_K; ++i) {
    BlockQ6_K b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d);
    float* y = out.data() + i * kQK_K;
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * static_cast<float>(q1);
        y[l + 32] = d * sc[is + 2] * static_cast<float>(q2);
        y[l + 64] = d * sc[is + 4] * static_cast<float>(q3);
        y[l + 96] = d * sc[is + 6] * static_cast<float>(q4);
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

}  // namespace ckpt
