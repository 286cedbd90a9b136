// Q2_K and Q3_K: ggml's quantize_row_q2_K_ref / q3_K_ref (llama-quantize without an imatrix), the
// importance-weighted quantize_row_q2_K_impl / q3_K_impl (with one), and their dequantizers. Same f32
// operation order as ggml-quants.c; compiled without FMA contraction.
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

// The 2-bit codes of a super-block, four per byte: value j + 32k of each half sits at bits 2k of qs[j].
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
  }
}

// Recomputes the codes from the stored (f16) scales and mins, as the stored block will decode them.
void requantize_q2_k(const float* x, const BlockQ2_K& b, uint8_t* L) {
  for (int j = 0; j < kQK_K / 16; ++j) {
    const float d = f16_to_f32(b.d) * static_cast<float>(b.scales[j] & 0xF);
    if (d == 0.0f) continue;
    const float dm = f16_to_f32(b.dmin) * static_cast<float>(b.scales[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d))));
  }
}

BlockQ2_K quantize_q2_k_block(const float* x) {
  constexpr float q4scale = 15.f;
  BlockQ2_K b{};
  uint8_t L[kQK_K], Laux[16];
  float weights[16], mins[kQK_K / 16], scales[kQK_K / 16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < kQK_K / 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  if (max_scale > 0) {
    const float iscale = q4scale / max_scale;
    for (int j = 0; j < kQK_K / 16; ++j) b.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    b.d = f32_to_f16(max_scale / q4scale);
  } else {
    b.d = f32_to_f16(0.f);
  }
  if (max_min > 0) {
    const float iscale = q4scale / max_min;
    for (int j = 0; j < kQK_K / 16; ++j) b.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
    b.dmin = f32_to_f16(max_min / q4scale);
  } else {
    b.dmin = f32_to_f16(0.f);
  }
  requantize_q2_k(x, b, L);
  pack_2bit(L, b.qs);
  return b;
}

BlockQ2_K quantize_q2_k_block_weighted(const float* x, const float* qw) {
  BlockQ2_K b{};
  uint8_t L[kQK_K], Laux[16], Ls[kQK_K / 16], Lm[kQK_K / 16];
  float mins[kQK_K / 16], scales[kQK_K / 16], sw[kQK_K / 16], weight[16];
  float sumx2 = 0;
  for (int j = 0; j < kQK_K; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = sumx2 / kQK_K;
  for (int j = 0; j < kQK_K / 16; ++j) {
    sw[j] = importance_weights(16, x + 16 * j, qw + 16 * j, sigma2, weight);
    scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  b.d = f32_to_f16(make_qp_quants(kQK_K / 16, 15, scales, Ls, sw));
  b.dmin = f32_to_f16(make_qp_quants(kQK_K / 16, 15, mins, Lm, sw));
  for (int j = 0; j < kQK_K / 16; ++j) b.scales[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
  requantize_q2_k(x, b, L);
  pack_2bit(L, b.qs);
  return b;
}

// Stores the 16 6-bit scales (already offset by 32) in Q3_K's 12 bytes.
void pack_q3_scales(const int* ls, uint8_t* scales) {
  std::memset(scales, 0, 12);
  for (int j = 0; j < kQK_K / 16; ++j) {
    int l = ls[j];
    if (j < 8) {
      scales[j] = static_cast<uint8_t>(l & 0xF);
    } else {
      scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
    }
    l >>= 4;
    scales[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
  }
}

int q3_scale(const uint8_t* scales, int j) {
  const int low = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  return (low | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// Codes from the stored scales, then the high bits into hmask and the low two bits into qs.
void finish_q3_k(const float* x, BlockQ3_K& b, int8_t* L) {
  for (int j = 0; j < kQK_K / 16; ++j) {
    // ggml keeps the unpacked scale in an int8_t before the multiply.
    const auto sc = static_cast<int8_t>(q3_scale(b.scales, j));
    const float d = f16_to_f32(b.d) * static_cast<float>(sc);
    if (d == 0.0f) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d))) + 4);
  }
  std::memset(b.hmask, 0, sizeof b.hmask);
  int m = 0;
  uint8_t hm = 1;
  for (int j = 0; j < kQK_K; ++j) {
    if (L[j] > 3) {
      b.hmask[m] |= hm;
      L[j] = static_cast<int8_t>(L[j] - 4);
    }
    if (++m == kQK_K / 8) {
      m = 0;
      hm = static_cast<uint8_t>(hm << 1);
    }
  }
  uint8_t codes[kQK_K];
  for (int j = 0; j < kQK_K; ++j) codes[j] = static_cast<uint8_t>(L[j]);
  pack_2bit(codes, b.qs);
}

BlockQ3_K quantize_q3_k_block(const float* x) {
  BlockQ3_K b{};
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < kQK_K / 16; ++j) {
    scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
    const float scale = std::fabs(scales[j]);
    if (scale > amax) {
      amax = scale;
      max_scale = scales[j];
    }
  }
  if (max_scale != 0.0f) {
    const float iscale = -32.f / max_scale;
    int ls[kQK_K / 16];
    for (int j = 0; j < kQK_K / 16; ++j) {
      // int8_t as in ggml: the rounded scale is narrowed before it is clamped.
      const auto l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
      ls[j] = std::max<int>(-32, std::min<int>(31, l)) + 32;
    }
    pack_q3_scales(ls, b.scales);
    b.d = f32_to_f16(1 / iscale);
  } else {
    b.d = f32_to_f16(0.f);
  }
  finish_q3_k(x, b, L);
  return b;
}

BlockQ3_K quantize_q3_k_block_weighted(const float* x, const float* qw) {
  BlockQ3_K b{};
  int8_t L[kQK_K], Ls[kQK_K / 16];
  float scales[kQK_K / 16], weight[16], sw[kQK_K / 16];
  float sumx2 = 0;
  for (int j = 0; j < kQK_K; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = 2 * sumx2 / kQK_K;
  for (int j = 0; j < kQK_K / 16; ++j) {
    sw[j] = importance_weights(16, x + 16 * j, qw + 16 * j, sigma2, weight);
    scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
  }
  const float d_block = make_qx_quants(kQK_K / 16, 32, scales, Ls, sw);
  int ls[kQK_K / 16];
  for (int j = 0; j < kQK_K / 16; ++j) ls[j] = Ls[j];
  pack_q3_scales(ls, b.scales);
  b.d = f32_to_f16(d_block);
  finish_q3_k(x, b, L);
  return b;
}

template <typename Block, typename Fn>
void each_block(std::span<const float> x, std::span<std::byte> out, Fn&& quantize_block) {
  for (size_t i = 0; i < x.size() / kQK_K; ++i) {
    const Block b = quantize_block(x.data() + i * kQK_K, i);
    std::memcpy(out.data() + i * sizeof b, &b, sizeof b);
  }
}

}  // namespace

void quantize_q2_k(std::span<const float> x, std::span<std::byte> out) {
  each_block<BlockQ2_K>(x, out, [](const float* v, size_t) { return quantize_q2_k_block(v); });
}
void quantize_q3_k(std::span<const float> x, std::span<std::byte> out) {
  each_block<BlockQ3_K>(x, out, [](const float* v, size_t) { return quantize_q3_k_block(v); });
}
void quantize_q2_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  each_block<BlockQ2_K>(x, out, [&](const float* v, size_t i) { return quantize_q2_k_block_weighted(v, qw.data() + i * kQK_K); });
}
void quantize_q3_k_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  each_block<BlockQ3_K>(x, out, [&](const float* v, size_t i) { return quantize_q3_k_block_weighted(v, qw.data() + i * kQK_K); });
}

void dequantize_q2_k(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK_K; ++i) {
    BlockQ2_K b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d), min = f16_to_f32(b.dmin);
    float* y = out.data() + i * kQK_K;
    const uint8_t* q = b.qs;
    int is = 0;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = b.scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF), ml = min * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
      q += 32;
    }
  }
}

void dequantize_q3_k(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK_K; ++i) {
    BlockQ3_K b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d_all = f16_to_f32(b.d);
    float* y = out.data() + i * kQK_K;
    const uint8_t* q = b.qs;
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < kQK_K; n += 128) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(q3_scale(b.scales, is++));
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * half;
            *y++ = dl * static_cast<float>(((q[k] >> shift) & 3) - ((b.hmask[k] & m) ? 0 : 4));
          }
        }
        m = static_cast<uint8_t>(m << 1);
      }
      q += 32;
    }
  }
}

}  // namespace ckpt
