// Q4_K, Q5_K, Q6_K: ggml's quantize_row_*_ref (llama-quantize's path without an imatrix) and their
// dequantizers. The helpers follow ggml-quants.c operation for operation, in the same f32 order, so
// the bytes match; the file is compiled without FMA contraction.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quant_fit.h"
#include "quantize/quantize.h"
#include "quantize/simd.h"

namespace ckpt {

using namespace quant_fit;

namespace {

// Q4_K/Q5_K's 6-bit scales and mins packed into 12 bytes (the first four whole, the rest split).
template <typename Block>
void store_scales_mins(Block& b, const uint8_t* ls, const uint8_t* lm) {
  for (int j = 0; j < kQK_K / 32; ++j) {
    if (j < 4) {
      b.scales[j] = ls[j];
      b.scales[j + 4] = lm[j];
    } else {
      b.scales[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      b.scales[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      b.scales[j - 0] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}

// The codes recomputed from the stored (f16) scales and mins, as the block will decode them.
template <typename Block>
void requantize_with_stored_scales(const float* x, const Block& b, uint8_t* L, int nmax) {
  for (int j = 0; j < kQK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, b.scales, &sc, &m);
    const float d = f16_to_f32(b.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(b.dmin) * static_cast<float>(m);
    for (int ii = 0; ii < 32; ++ii) {
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int((x[32 * j + ii] + dm) / d))));
    }
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
      scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    }
  }
  for (int j = 0; j < kQK_K / 32; ++j) {
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[kQK_K / 32], lm[kQK_K / 32];
  for (int j = 0; j < kQK_K / 32; ++j) {
    ls[j] = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_scale * scales[j])))));
    lm[j] = static_cast<uint8_t>(std::min(63, static_cast<int>(static_cast<uint8_t>(nearest_int(inv_min * mins[j])))));
  }
  store_scales_mins(b, ls, lm);
  b.d = f32_to_f16(max_scale / 63.f);
  b.dmin = f32_to_f16(max_min / 63.f);
  requantize_with_stored_scales(x, b, L, nmax);
}

// The importance-weighted fit (ggml's quantize_row_q4_K_impl / q5_K_impl with quant_weights): weights
// qw * sqrt(sigma2 + x^2), make_qkx3_quants per sub-block, the scales and mins fitted by make_qp_quants.
template <typename Block>
void fit_k_scales_weighted(const float* x, const float* qw, Block& b, uint8_t* L, int nmax) {
  float mins[kQK_K / 32], scales[kQK_K / 32], weights[32], sw[kQK_K / 32];
  uint8_t Laux[32], Ls[kQK_K / 32], Lm[kQK_K / 32];
  float sum_x2 = 0;
  for (int l = 0; l < kQK_K; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / kQK_K;
  for (int j = 0; j < kQK_K / 32; ++j) {
    sw[j] = importance_weights(32, x + 32 * j, qw + 32 * j, sigma2, weights);
    scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float d_block = make_qp_quants(kQK_K / 32, 63, scales, Ls, sw);
  const float m_block = make_qp_quants(kQK_K / 32, 63, mins, Lm, sw);
  for (int j = 0; j < kQK_K / 32; ++j) {
    Ls[j] = std::min<uint8_t>(63, Ls[j]);
    Lm[j] = std::min<uint8_t>(63, Lm[j]);
  }
  store_scales_mins(b, Ls, Lm);
  b.d = f32_to_f16(d_block);
  b.dmin = f32_to_f16(m_block);
  requantize_with_stored_scales(x, b, L, nmax);
}

}  // namespace

void quantize_q4_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd, const float* qw = nullptr);
void quantize_q5_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd, const float* qw = nullptr);

void quantize_q4_k(std::span<const float> x, std::span<std::byte> out) { quantize_q4_k_impl(x, out, simd::cpu_has_avx2()); }
void quantize_q5_k(std::span<const float> x, std::span<std::byte> out) { quantize_q5_k_impl(x, out, simd::cpu_has_avx2()); }
void quantize_q4_k_ref(std::span<const float> x, std::span<std::byte> out) { quantize_q4_k_impl(x, out, false); }
void quantize_q5_k_ref(std::span<const float> x, std::span<std::byte> out) { quantize_q5_k_impl(x, out, false); }

void quantize_q4_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd, const float* qw) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const float* v = x.data() + i * kQK_K;
    BlockQ4_K b{};
    uint8_t L[kQK_K];
    if (qw) {
      fit_k_scales_weighted(v, qw + i * kQK_K, b, L, 15);
    } else {
      fit_k_scales(v, b, L, 15, -1.f, 20, use_simd);
    }
    uint8_t* q = b.qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      q += 32;
    }
    std::memcpy(out.data() + i * sizeof b, &b, sizeof b);
  }
}

void quantize_q5_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd, const float* qw) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const float* v = x.data() + i * kQK_K;
    BlockQ5_K b{};
    uint8_t L[kQK_K];
    if (qw) {
      fit_k_scales_weighted(v, qw + i * kQK_K, b, L, 31);
    } else {
      fit_k_scales(v, b, L, 31, -0.5f, 15, use_simd);
    }
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

void quantize_q6_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd, const float* qw = nullptr);
void quantize_q6_k(std::span<const float> x, std::span<std::byte> out) { quantize_q6_k_impl(x, out, simd::cpu_has_avx2()); }
void quantize_q6_k_ref(std::span<const float> x, std::span<std::byte> out) { quantize_q6_k_impl(x, out, false); }
void quantize_q4_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_q4_k_impl(x, out, false, qw.data());
}
void quantize_q5_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_q5_k_impl(x, out, false, qw.data());
}
void quantize_q6_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_q6_k_impl(x, out, false, qw.data());
}

void quantize_q6_k_impl(std::span<const float> x, std::span<std::byte> out, bool use_simd, const float* qw) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const float* v = x.data() + i * kQK_K;
    BlockQ6_K b{};
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    float max_scale = 0, max_abs_scale = 0;
    if (use_simd && !qw) {
      simd::fit_qx_x8(v, 32, L, scales);
      simd::fit_qx_x8(v + 128, 32, L + 128, scales + 8);
    }
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = use_simd && !qw ? scales[ib] : make_qx_quants(16, 32, v + 16 * ib, L + 16 * ib, qw ? qw + i * kQK_K + 16 * ib : nullptr);
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
