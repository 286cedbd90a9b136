// IQ4_NL and IQ4_XS: ggml's quantize_row_iq4_nl_impl — one 32-value block per IQ4_NL block, eight with
// 6-bit sub-scales per IQ4_XS super-block — with 7 refinement tries per block, weighted by x^2 or, with
// an importance row, qw * sqrt(sigma2 + x^2); and the dequantizers.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quant_fit.h"
#include "quantize/quantize.h"

namespace ckpt {

using namespace quant_fit;

namespace {

constexpr int kTries = 7;

// The best scale of one 32-value block (codes left in L), or 0 for an all-zero block.
float fit_iq4_block(const float* xb, const float* weight, uint8_t* L) {
  const int8_t* values = kIQ4NLValues;
  float amax;
  const float max = signed_absmax(xb, kQK, &amax);
  if (amax < kGroupMaxEps) return 0;
  float d = -max / static_cast<float>(values[0]);
  float id = 1 / d;
  float sumqx = 0, sumq2 = 0;
  for (int j = 0; j < kQK; ++j) {
    const int l = best_index_int8(values, id * xb[j]);
    L[j] = static_cast<uint8_t>(l);
    const float q = values[l];
    sumqx += weight[j] * q * xb[j];
    sumq2 += weight[j] * q * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kTries; itry <= kTries; ++itry) {
    id = static_cast<float>(itry + values[0]) / max;
    sumqx = sumq2 = 0;
    for (int j = 0; j < kQK; ++j) {
      const float q = values[best_index_int8(values, id * xb[j])];
      sumqx += weight[j] * q * xb[j];
      sumq2 += weight[j] * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// One super-block of n_blocks * 32 values (1 for IQ4_NL, 8 for IQ4_XS). Writes d, the packed nibbles
// and, for IQ4_XS, the sub-scales.
void quantize_iq4_superblock(const float* x, const float* qw, int n_blocks, uint16_t* dh, uint8_t* q4, uint16_t* scales_h,
                             uint8_t* scales_l) {
  const int n = n_blocks * kQK;
  uint8_t L[kQK_K];
  float scales[kQK_K / kQK], weight[kQK];
  float sigma2 = 0;
  for (int j = 0; j < n; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / static_cast<float>(n);
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < n_blocks; ++ib) {
    const float* xb = x + ib * kQK;
    if (qw) {
      importance_weights(kQK, xb, qw + ib * kQK, sigma2, weight);
    } else {
      for (int j = 0; j < kQK; ++j) weight[j] = xb[j] * xb[j];
    }
    scales[ib] = fit_iq4_block(xb, weight, L + ib * kQK);
    if (std::fabs(scales[ib]) > amax_scale) {
      amax_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  if (n_blocks > 1) {
    *scales_h = 0;
    const float d = -max_scale / 32;
    *dh = f32_to_f16(d);
    const float id = d != 0.0f ? 1 / d : 0.f;
    for (int ib = 0; ib < n_blocks; ++ib) {
      int l = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
      const float dl = d * static_cast<float>(l);
      const float idl = dl != 0.0f ? 1 / dl : 0.f;
      for (int j = 0; j < kQK; ++j) L[ib * kQK + j] = static_cast<uint8_t>(best_index_int8(kIQ4NLValues, idl * x[ib * kQK + j]));
      l += 32;
      const auto l_l = static_cast<uint8_t>(l & 0xF), l_h = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0) {
        scales_l[ib / 2] = l_l;
      } else {
        scales_l[ib / 2] |= static_cast<uint8_t>(l_l << 4);
      }
      *scales_h = static_cast<uint16_t>(*scales_h | (l_h << (2 * (ib % 8))));
    }
  } else {
    *dh = f32_to_f16(scales[0]);
    const float id = scales[0] != 0.0f ? 1 / scales[0] : 0;
    for (int j = 0; j < n; ++j) L[j] = static_cast<uint8_t>(best_index_int8(kIQ4NLValues, id * x[j]));
  }
  for (int i = 0; i < n / kQK; ++i) {
    for (int j = 0; j < 16; ++j) q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
  }
}

void quantize_iq4_nl_rows(std::span<const float> x, const float* qw, std::span<std::byte> out) {
  for (size_t ib = 0; ib < x.size() / kQK; ++ib) {
    BlockIQ4_NL b{};
    uint16_t unused_h = 0;
    quantize_iq4_superblock(x.data() + ib * kQK, qw ? qw + ib * kQK : nullptr, 1, &b.d, b.qs, &unused_h, nullptr);
    std::memcpy(out.data() + ib * sizeof b, &b, sizeof b);
  }
}

void quantize_iq4_xs_rows(std::span<const float> x, const float* qw, std::span<std::byte> out) {
  for (size_t ib = 0; ib < x.size() / kQK_K; ++ib) {
    BlockIQ4_XS b{};
    uint16_t scales_h = 0;
    quantize_iq4_superblock(x.data() + ib * kQK_K, qw ? qw + ib * kQK_K : nullptr, kQK_K / kQK, &b.d, b.qs, &scales_h, b.scales_l);
    b.scales_h = scales_h;
    std::memcpy(out.data() + ib * sizeof b, &b, sizeof b);
  }
}

}  // namespace

void quantize_iq4_nl(std::span<const float> x, std::span<std::byte> out) { quantize_iq4_nl_rows(x, nullptr, out); }
void quantize_iq4_xs(std::span<const float> x, std::span<std::byte> out) { quantize_iq4_xs_rows(x, nullptr, out); }
void quantize_iq4_nl_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_iq4_nl_rows(x, qw.data(), out);
}
void quantize_iq4_xs_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_iq4_xs_rows(x, qw.data(), out);
}

void dequantize_iq4_nl(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK; ++i) {
    BlockIQ4_NL b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      out[i * kQK + j] = d * static_cast<float>(kIQ4NLValues[b.qs[j] & 0xF]);
      out[i * kQK + j + kQK / 2] = d * static_cast<float>(kIQ4NLValues[b.qs[j] >> 4]);
    }
  }
}

void dequantize_iq4_xs(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK_K; ++i) {
    BlockIQ4_XS b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d);
    float* y = out.data() + i * kQK_K;
    for (int ib = 0; ib < kQK_K / kQK; ++ib) {
      const int ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      const uint8_t* qs = b.qs + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        y[32 * ib + j] = dl * static_cast<float>(kIQ4NLValues[qs[j] & 0xF]);
        y[32 * ib + j + 16] = dl * static_cast<float>(kIQ4NLValues[qs[j] >> 4]);
      }
    }
  }
}

}  // namespace ckpt
