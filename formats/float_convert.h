// Exact conversions between f32 and the narrow float formats found in checkpoints.
//
// f32 -> narrow rounds to nearest, ties to even, on the exact value (no double rounding). NaN stays
// NaN (a quiet NaN, sign kept where the format has one), infinities and overflow follow each format's
// rule: IEEE-like formats (F16, BF16, F8_E5M2) give +-Inf; the "fn" format (F8_E4M3) and the "fnuz"
// formats have no Inf and give NaN, as torch's non-saturating casts do. narrow -> f32 is exact.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ckpt {

struct MiniFloatFormat {
  enum class Kind : uint8_t { Ieee, FiniteNan, FiniteNanUnsignedZero };
  int exponent_bits;
  int mantissa_bits;
  int bias;
  Kind kind;
};

inline constexpr MiniFloatFormat kF16Format{5, 10, 15, MiniFloatFormat::Kind::Ieee};
inline constexpr MiniFloatFormat kBF16Format{8, 7, 127, MiniFloatFormat::Kind::Ieee};
inline constexpr MiniFloatFormat kF8E5M2Format{5, 2, 15, MiniFloatFormat::Kind::Ieee};
inline constexpr MiniFloatFormat kF8E4M3Format{4, 3, 7, MiniFloatFormat::Kind::FiniteNan};
inline constexpr MiniFloatFormat kF8E4M3FnuzFormat{4, 3, 8, MiniFloatFormat::Kind::FiniteNanUnsignedZero};
inline constexpr MiniFloatFormat kF8E5M2FnuzFormat{5, 2, 16, MiniFloatFormat::Kind::FiniteNanUnsignedZero};

// Generic (slow, table-free) conversions; the reference for the fast paths below.
uint32_t minifloat_from_f32(float value, const MiniFloatFormat& format);
float minifloat_to_f32(uint32_t bits, const MiniFloatFormat& format);

// Fast scalar paths, bit-identical to the generic ones.
uint16_t f32_to_f16(float value);
float f16_to_f32(uint16_t bits);
uint16_t f32_to_bf16(float value);
inline float bf16_to_f32(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
inline uint8_t f32_to_f8_e4m3(float v) { return static_cast<uint8_t>(minifloat_from_f32(v, kF8E4M3Format)); }
inline uint8_t f32_to_f8_e5m2(float v) { return static_cast<uint8_t>(minifloat_from_f32(v, kF8E5M2Format)); }
float f8_e4m3_to_f32(uint8_t bits);
float f8_e5m2_to_f32(uint8_t bits);
// MX scale: 2^(bits-127); 0xFF is NaN.
float f8_e8m0_to_f32(uint8_t bits);
// MXFP4 E2M1 nibble (low 4 bits of `nibble`): +-{0, 0.5, 1, 1.5, 2, 3, 4, 6}.
float f4_e2m1_to_f32(uint8_t nibble);

// Bulk conversions for streaming converters.
void convert_f16_to_f32(std::span<const uint16_t> in, std::span<float> out);
// How many of the f16 values in `bytes` (2 bytes each, any alignment) are inf or NaN.
uint64_t count_f16_nonfinite(std::span<const std::byte> bytes);
void convert_bf16_to_f32(std::span<const uint16_t> in, std::span<float> out);
void convert_f32_to_f16(std::span<const float> in, std::span<uint16_t> out);
void convert_f32_to_bf16(std::span<const float> in, std::span<uint16_t> out);
// bf16 -> f16 directly (exact bf16 -> f32, then round to nearest even); the checkpoint converter's hot path.
void convert_bf16_to_f16(std::span<const uint16_t> in, std::span<uint16_t> out);

}  // namespace ckpt
