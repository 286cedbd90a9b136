// Q4_0, Q4_1, Q5_0, Q5_1 with an importance row: ggml's quantize_row_q4_0_impl .. q5_1_impl, which
// llama-quantize takes when it has an imatrix. The weights are qw * sqrt(sigma2 + x^2) with sigma2 the
// mean square of the whole row; symmetric types fit with make_qx_quants, the others with
// make_qkx3_quants. Compiled without FMA contraction like the rest of ckpt::quantize.
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quant_fit.h"
#include "quantize/quantize.h"

namespace ckpt {

using namespace quant_fit;

namespace {

float row_sigma2(std::span<const float> x) {
  float sum_x2 = 0;
  for (float v : x) sum_x2 += v * v;
  return sum_x2 / static_cast<float>(x.size());
}

// The fifth bits of 32 five-bit codes, element j at bit j.
uint32_t fifth_bits(const uint8_t* L) {
  uint32_t qh = 0;
  for (int j = 0; j < kQK / 2; ++j) {
    qh |= ((L[j] & 0x10u) >> 4) << j;
    qh |= ((L[j + kQK / 2] & 0x10u) >> 4) << (j + kQK / 2);
  }
  return qh;
}

template <typename Block>
void pack_nibbles(const uint8_t* L, Block& b) {
  for (int j = 0; j < kQK / 2; ++j) b.qs[j] = static_cast<uint8_t>((L[j] & 0x0F) | ((L[j + kQK / 2] & 0x0F) << 4));
}

// Symmetric types: codes in [0, 2*nmax) from make_qx_quants.
template <typename Block>
void quantize_symmetric(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out, int nmax) {
  const float sigma2 = row_sigma2(x);
  for (size_t ib = 0; ib < x.size() / kQK; ++ib) {
    const float* xb = x.data() + ib * kQK;
    float weight[kQK];
    int8_t L[kQK];
    importance_weights(kQK, xb, qw.data() + ib * kQK, sigma2, weight);
    Block b{};
    b.d = f32_to_f16(make_qx_quants(kQK, nmax, xb, L, weight));
    uint8_t codes[kQK];
    for (int j = 0; j < kQK; ++j) codes[j] = static_cast<uint8_t>(L[j]);
    pack_nibbles(codes, b);
    if constexpr (requires { b.qh; }) {
      const uint32_t qh = fifth_bits(codes);
      std::memcpy(b.qh, &qh, 4);
    }
    std::memcpy(out.data() + ib * sizeof b, &b, sizeof b);
  }
}

// Types with a minimum: codes in [0, nmax] from make_qkx3_quants.
template <typename Block>
void quantize_with_min(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out, int nmax) {
  const float sigma2 = row_sigma2(x);
  for (size_t ib = 0; ib < x.size() / kQK; ++ib) {
    const float* xb = x.data() + ib * kQK;
    float weight[kQK], min;
    uint8_t L[kQK], Laux[kQK];
    importance_weights(kQK, xb, qw.data() + ib * kQK, sigma2, weight);
    Block b{};
    b.d = f32_to_f16(make_qkx3_quants(kQK, nmax, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false));
    b.m = f32_to_f16(-min);
    pack_nibbles(L, b);
    if constexpr (requires { b.qh; }) {
      const uint32_t qh = fifth_bits(L);
      std::memcpy(b.qh, &qh, 4);
    }
    std::memcpy(out.data() + ib * sizeof b, &b, sizeof b);
  }
}

}  // namespace

void quantize_q4_0_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_symmetric<BlockQ4_0>(x, qw, out, 8);
}
void quantize_q5_0_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_symmetric<BlockQ5_0>(x, qw, out, 16);
}
void quantize_q4_1_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_with_min<BlockQ4_1>(x, qw, out, 15);
}
void quantize_q5_1_weighted(std::span<const float> x, std::span<const float> qw, std::span<std::byte> out) {
  quantize_with_min<BlockQ5_1>(x, qw, out, 31);
}

}  // namespace ckpt
