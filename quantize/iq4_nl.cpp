// IQ4_NL: ggml's quantize_iq4_nl without an imatrix (weights x^2, 7 refinement tries per 32-block;
// quantize_row_iq4_nl_impl with super_block_size == block_size == 32), and its dequantizer.
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"

namespace ckpt {

namespace {

// Index of the code book entry nearest to x (ties to the upper entry), by bisection as ggml does.
int best_index_int8(const int8_t* val, float x) {
  if (x <= val[0]) return 0;
  if (x >= val[15]) return 15;
  int ml = 0, mu = 15;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < val[mav]) {
      mu = mav;
    } else {
      ml = mav;
    }
  }
  return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

}  // namespace

void quantize_iq4_nl(std::span<const float> x, std::span<std::byte> out) {
  constexpr int kTries = 7;
  const int8_t* values = kIQ4NLValues;
  for (size_t ib = 0; ib < x.size() / kQK; ++ib) {
    const float* xb = x.data() + ib * kQK;
    BlockIQ4_NL b{};
    uint8_t L[kQK];
    float weight[kQK];
    for (int j = 0; j < kQK; ++j) weight[j] = xb[j] * xb[j];
    float amax = 0, max = 0;
    for (int j = 0; j < kQK; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    float scale = 0;
    if (amax >= 1e-15f) {
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
      scale = d;
    }
    b.d = f32_to_f16(scale);
    const float id = scale != 0.0f ? 1 / scale : 0;
    for (int j = 0; j < kQK; ++j) L[j] = static_cast<uint8_t>(best_index_int8(values, id * xb[j]));
    for (int j = 0; j < kQK / 2; ++j) b.qs[j] = static_cast<uint8_t>(L[j] | (L[kQK / 2 + j] << 4));
    std::memcpy(out.data() + ib * sizeof b, &b, sizeof b);
  }
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

}  // namespace ckpt
