// Q4_0, Q4_1, Q5_0, Q5_1: ggml's quantize_row_*_ref (the path llama-quantize takes without an
// imatrix) and the matching dequantizers. Compiled with -ffp-contract=off: Q4_0's rounding depends on
// x*id being rounded to f32 before +8.5f (gguf-py's numpy port differs exactly there).
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "quantize/simd.h"

namespace ckpt {

namespace {

template <typename Block>
Block* blocks(std::span<std::byte> out) {
  return reinterpret_cast<Block*>(out.data());  // SAFETY: packed structs of bytes/uint16; out sized by the caller
}

// The element of largest magnitude, keeping its sign (first one wins on ties: strict <).
float signed_absmax(const float* v, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(v[j])) {
      amax = std::fabs(v[j]);
      max = v[j];
    }
  }
  return max;
}

void min_max(const float* v, int n, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < n; ++j) {
    if (v[j] < min) min = v[j];
    if (v[j] > max) max = v[j];
  }
}

}  // namespace

void quantize_q4_0(std::span<const float> x, std::span<std::byte> out) {
  if (simd::cpu_has_avx2()) return simd::quantize_q4_0_avx2(x.data(), x.size() / kQK, out.data());
  quantize_q4_0_ref(x, out);
}

void quantize_q4_0_ref(std::span<const float> x, std::span<std::byte> out) {
  auto* y = blocks<BlockQ4_0>(out);
  for (size_t i = 0; i < x.size() / kQK; ++i) {
    const float* v = x.data() + i * kQK;
    const float d = signed_absmax(v, kQK) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 b{};
    b.d = f32_to_f16(d);
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = v[j] * id, x1 = v[kQK / 2 + j] * id;
      const uint8_t q0 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 8.5f))));
      const uint8_t q1 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 8.5f))));
      b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
    std::memcpy(&y[i], &b, sizeof b);
  }
}

void quantize_q4_1(std::span<const float> x, std::span<std::byte> out) {
  auto* y = blocks<BlockQ4_1>(out);
  for (size_t i = 0; i < x.size() / kQK; ++i) {
    const float* v = x.data() + i * kQK;
    float min, max;
    min_max(v, kQK, min, max);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_1 b{};
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(min);
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = (v[j] - min) * id, x1 = (v[kQK / 2 + j] - min) * id;
      const uint8_t q0 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x0 + 0.5f))));
      const uint8_t q1 = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(x1 + 0.5f))));
      b.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
    std::memcpy(&y[i], &b, sizeof b);
  }
}

void quantize_q5_0(std::span<const float> x, std::span<std::byte> out) {
  auto* y = blocks<BlockQ5_0>(out);
  for (size_t i = 0; i < x.size() / kQK; ++i) {
    const float* v = x.data() + i * kQK;
    const float d = signed_absmax(v, kQK) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_0 b{};
    b.d = f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = v[j] * id, x1 = v[kQK / 2 + j] * id;
      const uint8_t q0 = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x0 + 16.5f))));
      const uint8_t q1 = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(x1 + 16.5f))));
      b.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(b.qh, &qh, 4);
    std::memcpy(&y[i], &b, sizeof b);
  }
}

void quantize_q5_1(std::span<const float> x, std::span<std::byte> out) {
  auto* y = blocks<BlockQ5_1>(out);
  for (size_t i = 0; i < x.size() / kQK; ++i) {
    const float* v = x.data() + i * kQK;
    float min, max;
    min_max(v, kQK, min, max);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_1 b{};
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK / 2; ++j) {
      const float x0 = (v[j] - min) * id, x1 = (v[kQK / 2 + j] - min) * id;
      const auto q0 = static_cast<uint8_t>(x0 + 0.5f), q1 = static_cast<uint8_t>(x1 + 0.5f);
      b.qs[j] = static_cast<uint8_t>((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= ((q0 & 0x10u) >> 4) << j;
      qh |= ((q1 & 0x10u) >> 4) << (j + kQK / 2);
    }
    std::memcpy(b.qh, &qh, 4);
    std::memcpy(&y[i], &b, sizeof b);
  }
}

void dequantize_q4_0(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK; ++i) {
    BlockQ4_0 b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      out[i * kQK + j] = static_cast<float>((b.qs[j] & 0x0F) - 8) * d;
      out[i * kQK + j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK; ++i) {
    BlockQ4_1 b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    for (int j = 0; j < kQK / 2; ++j) {
      out[i * kQK + j] = static_cast<float>(b.qs[j] & 0x0F) * d + m;
      out[i * kQK + j + kQK / 2] = static_cast<float>(b.qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_q5_0(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK; ++i) {
    BlockQ5_0 b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
      out[i * kQK + j] = static_cast<float>(((b.qs[j] & 0x0F) | h0) - 16) * d;
      out[i * kQK + j + kQK / 2] = static_cast<float>(((b.qs[j] >> 4) | h1) - 16) * d;
    }
  }
}

void dequantize_q5_1(std::span<const std::byte> in, std::span<float> out) {
  for (size_t i = 0; i < out.size() / kQK; ++i) {
    BlockQ5_1 b;
    std::memcpy(&b, in.data() + i * sizeof b, sizeof b);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    for (int j = 0; j < kQK / 2; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
      out[i * kQK + j] = static_cast<float>((b.qs[j] & 0x0F) | h0) * d + m;
      out[i * kQK + j + kQK / 2] = static_cast<float>((b.qs[j] >> 4) | h1) * d + m;
    }
  }
}

// The types ggml added after ckpt's quantizers (decoded only, as ggml-quants.c dequantizes them):
// MXFP4 / NVFP4 hold E2M1 codes as twice their value (kvalues_fp4), scales halved to match.
namespace {
constexpr int8_t kFp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

float e8m0_half(uint8_t x) {  // 0.5 * 2^(x - 127)
  const uint32_t bits = x < 2 ? uint32_t{0x00200000} << x : static_cast<uint32_t>(x - 1) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float ue4m3_half(uint8_t x) {
  if (x == 0 || x == 0x7F) return 0.0f;
  const int exp = (x >> 3) & 0xF, man = x & 0x7;
  const float raw = exp == 0 ? std::ldexp(static_cast<float>(man), -9) : std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
  return raw * 0.5f;
}

float half_at(const std::byte* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
}  // namespace

void dequantize_mxfp4(std::span<const std::byte> in, std::span<float> out) {
  for (size_t b = 0; b < out.size() / 32; ++b) {
    const auto* blk = in.data() + b * 17;
    const float d = e8m0_half(static_cast<uint8_t>(blk[0]));
    for (int j = 0; j < 16; ++j) {
      const auto q = static_cast<uint8_t>(blk[1 + j]);
      out[b * 32 + j] = static_cast<float>(kFp4Values[q & 0x0F]) * d;
      out[b * 32 + j + 16] = static_cast<float>(kFp4Values[q >> 4]) * d;
    }
  }
}

void dequantize_nvfp4(std::span<const std::byte> in, std::span<float> out) {
  for (size_t b = 0; b < out.size() / 64; ++b) {
    const auto* blk = in.data() + b * 36;
    for (int s = 0; s < 4; ++s) {
      const float d = ue4m3_half(static_cast<uint8_t>(blk[s]));
      for (int j = 0; j < 8; ++j) {
        const auto q = static_cast<uint8_t>(blk[4 + s * 8 + j]);
        out[b * 64 + s * 16 + j] = static_cast<float>(kFp4Values[q & 0x0F]) * d;
        out[b * 64 + s * 16 + j + 8] = static_cast<float>(kFp4Values[q >> 4]) * d;
      }
    }
  }
}

void dequantize_q1_0(std::span<const std::byte> in, std::span<float> out) {
  for (size_t b = 0; b < out.size() / 128; ++b) {
    const auto* blk = in.data() + b * 18;
    const float d = half_at(blk);
    for (int j = 0; j < 128; ++j) out[b * 128 + j] = (static_cast<uint8_t>(blk[2 + j / 8]) >> (j % 8)) & 1 ? d : -d;
  }
}

void dequantize_q2_0(std::span<const std::byte> in, std::span<float> out) {
  for (size_t b = 0; b < out.size() / 64; ++b) {
    const auto* blk = in.data() + b * 18;
    const float d = half_at(blk);
    for (int j = 0; j < 64; ++j) {
      const int q = (static_cast<uint8_t>(blk[2 + j / 4]) >> ((j % 4) * 2)) & 0x03;
      out[b * 64 + j] = static_cast<float>(q - 1) * d;
    }
  }
}

}  // namespace ckpt
