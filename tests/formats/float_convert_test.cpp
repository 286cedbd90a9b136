// Narrow-float conversions against hand-computed values and a float64 reference that enumerates
// every code of a format and picks the nearest (ties to the even code) - a different algorithm from
// the bit arithmetic under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "formats/float_convert.h"

namespace ckpt {
namespace {

float bits_to_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t f32_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Decode by the textbook formula in double precision.
double reference_decode(uint32_t code, const MiniFloatFormat& f, bool* is_nan, bool* is_inf) {
  const int mb = f.mantissa_bits, eb = f.exponent_bits;
  const uint32_t all_exp = (1u << eb) - 1, all_mant = (1u << mb) - 1;
  const bool neg = (code >> (eb + mb)) & 1;
  const uint32_t e = (code >> mb) & all_exp, m = code & all_mant;
  *is_nan = *is_inf = false;
  if (f.kind == MiniFloatFormat::Kind::Ieee && e == all_exp) {
    (m ? *is_nan : *is_inf) = true;
  } else if (f.kind == MiniFloatFormat::Kind::FiniteNan && e == all_exp && m == all_mant) {
    *is_nan = true;
  } else if (f.kind == MiniFloatFormat::Kind::FiniteNanUnsignedZero && neg && e == 0 && m == 0) {
    *is_nan = true;
  }
  const double mag = e == 0 ? std::ldexp(m, 1 - f.bias - mb) : std::ldexp(1.0 + std::ldexp(m, -mb), static_cast<int>(e) - f.bias);
  return neg ? -mag : mag;
}

struct Candidate {
  double value;
  uint32_t code;  // code of the positive value; UINT32_MAX marks the virtual "overflow" step
  bool even;
};

// Nearest representable value by search; returns the code, or UINT32_MAX for overflow.
class ReferenceEncoder {
 public:
  explicit ReferenceEncoder(const MiniFloatFormat& f) : f_(f) {
    const uint32_t n_codes = 1u << (f.exponent_bits + f.mantissa_bits);  // positive half
    for (uint32_t c = 0; c < n_codes; ++c) {
      bool nan, inf;
      const double v = reference_decode(c, f, &nan, &inf);
      if (!nan && !inf) candidates_.push_back({v, c, (c & 1) == 0});
    }
    std::sort(candidates_.begin(), candidates_.end(), [](auto& a, auto& b) { return a.value < b.value; });
    // One step past the largest finite value: where rounding goes to overflow.
    const auto& max = candidates_.back();
    const auto& below = candidates_[candidates_.size() - 2];
    const double ulp = (max.code & ((1u << f.mantissa_bits) - 1)) == 0 ? 2 * (max.value - below.value) : max.value - below.value;
    candidates_.push_back({max.value + ulp, UINT32_MAX, ((max.code + 1) & 1) == 0});
  }

  uint32_t encode_magnitude(double x) const {
    auto it = std::lower_bound(candidates_.begin(), candidates_.end(), x,
                               [](const Candidate& c, double v) { return c.value < v; });
    if (it == candidates_.end()) return UINT32_MAX;
    if (it->value == x || it == candidates_.begin()) return it->code;
    const auto lo = *(it - 1), hi = *it;
    const double dlo = x - lo.value, dhi = hi.value - x;
    if (dlo < dhi) return lo.code;
    if (dhi < dlo) return hi.code;
    return lo.even ? lo.code : hi.code;
  }

 private:
  MiniFloatFormat f_;
  std::vector<Candidate> candidates_;
};

void check_format_against_reference(const MiniFloatFormat& f, uint32_t stride) {
  const ReferenceEncoder ref(f);
  const int sign_shift = f.exponent_bits + f.mantissa_bits;
  // Decode: every code.
  for (uint32_t code = 0; code < (2u << sign_shift); ++code) {
    bool nan, inf;
    const double expected = reference_decode(code, f, &nan, &inf);
    const float got = minifloat_to_f32(code, f);
    if (nan) {
      EXPECT_TRUE(std::isnan(got)) << code;
    } else if (inf) {
      EXPECT_TRUE(std::isinf(got) && std::signbit(got) == (expected < 0)) << code;
    } else {
      ASSERT_EQ(static_cast<double>(got), expected) << "decode code " << code;
      if (expected == 0) EXPECT_EQ(std::signbit(got), ((code >> sign_shift) & 1) != 0);
    }
  }
  // Encode: a strided sweep over all finite f32 bit patterns (both signs).
  for (uint64_t u = 0; u < 0x7F800000u; u += stride) {
    for (uint32_t sign : {0u, 0x80000000u}) {
      const float x = bits_to_f32(static_cast<uint32_t>(u) | sign);
      const uint32_t got = minifloat_from_f32(x, f);
      const uint32_t mag = ref.encode_magnitude(std::fabs(static_cast<double>(x)));
      uint32_t expected;
      if (mag == UINT32_MAX) {
        expected = minifloat_from_f32(sign ? -INFINITY : INFINITY, f);  // checked by the hand vectors below
      } else if (mag == 0 && f.kind == MiniFloatFormat::Kind::FiniteNanUnsignedZero) {
        expected = 0;
      } else {
        expected = mag | (sign ? 1u << sign_shift : 0);
      }
      ASSERT_EQ(got, expected) << "encode " << x << " (bits 0x" << std::hex << (u | sign) << ")";
    }
  }
}

TEST(FloatConvert, F16MatchesReferenceForAllCodesAndSampledFloats) {
  check_format_against_reference(kF16Format, 251);
}
TEST(FloatConvert, BF16MatchesReference) { check_format_against_reference(kBF16Format, 4093); }
TEST(FloatConvert, F8E4M3MatchesReference) { check_format_against_reference(kF8E4M3Format, 509); }
TEST(FloatConvert, F8E5M2MatchesReference) { check_format_against_reference(kF8E5M2Format, 509); }
TEST(FloatConvert, F8FnuzFormatsMatchReference) {
  check_format_against_reference(kF8E4M3FnuzFormat, 1021);
  check_format_against_reference(kF8E5M2FnuzFormat, 1021);
}

TEST(FloatConvert, F16HandVectors) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xC000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2E66);
  EXPECT_EQ(f32_to_f16(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);        // max finite
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7BFF);      // just below the tie
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);        // tie with odd mantissa -> Inf
  EXPECT_EQ(f32_to_f16(0x1p-24f), 0x0001);        // smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);        // tie -> even (zero)
  EXPECT_EQ(f32_to_f16(0x1.000002p-25f), 0x0001); // just above the tie
  EXPECT_EQ(f32_to_f16(3 * 0x1p-25f), 0x0002);    // 1.5 quanta: tie -> even (2)
  EXPECT_EQ(f32_to_f16(0x1.ff8p-15f), 0x03FF);    // largest subnormal
  EXPECT_EQ(f32_to_f16(0x1.ffcp-15f), 0x0400);    // tie above it -> even: the smallest normal
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7C00);
  EXPECT_EQ(f32_to_f16(-INFINITY), 0xFC00);
  EXPECT_EQ(f32_to_f16(NAN) & 0x7E00, 0x7E00);
  EXPECT_EQ(f16_to_f32(0x3C00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x0001), 0x1p-24f);
  EXPECT_EQ(f16_to_f32(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7E00)));
}

TEST(FloatConvert, FastF16AndBF16PathsEqualTheGenericOnes) {
  for (uint64_t u = 0; u <= 0xFFFFFFFFu; u += 997) {
    const float x = bits_to_f32(static_cast<uint32_t>(u));
    const uint16_t fast = f32_to_f16(x), generic = static_cast<uint16_t>(minifloat_from_f32(x, kF16Format));
    if (std::isnan(x)) {
      ASSERT_EQ(fast & 0x7E00, 0x7E00);
    } else {
      ASSERT_EQ(fast, generic) << std::hex << u;
    }
    const uint16_t bf = f32_to_bf16(x);
    if (!std::isnan(x)) ASSERT_EQ(bf, minifloat_from_f32(x, kBF16Format)) << std::hex << u;
  }
  for (uint32_t h = 0; h < 65536; ++h) {
    const float fast = f16_to_f32(static_cast<uint16_t>(h)), generic = minifloat_to_f32(h, kF16Format);
    if (std::isnan(generic)) {
      ASSERT_TRUE(std::isnan(fast));
    } else {
      ASSERT_EQ(f32_to_bits(fast), f32_to_bits(generic)) << h;
    }
    ASSERT_EQ(f32_to_bits(bf16_to_f32(static_cast<uint16_t>(h))), h << 16);
  }
}

TEST(FloatConvert, BF16HandVectors) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3F808000)), 0x3F80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x3F818000)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x7F7FFFFF)), 0x7F80);  // max f32 rounds to Inf
  EXPECT_EQ(f32_to_bf16(bits_to_f32(0x7F800001)) & 0x7FC0, 0x7FC0);  // signalling NaN -> quiet, not Inf
}

TEST(FloatConvert, F8HandVectors) {
  // E4M3 (fn): max 448, no Inf; torch's non-saturating cast gives NaN past the rounding range.
  EXPECT_EQ(f32_to_f8_e4m3(448.0f), 0x7E);
  EXPECT_EQ(f32_to_f8_e4m3(464.0f), 0x7E);  // tie between 448 (even) and 480 (would be NaN)
  EXPECT_EQ(f32_to_f8_e4m3(465.0f), 0x7F);
  EXPECT_EQ(f32_to_f8_e4m3(-1e6f), 0xFF);
  EXPECT_EQ(f32_to_f8_e4m3(INFINITY), 0x7F);
  EXPECT_EQ(f32_to_f8_e4m3(0x1p-9f), 0x01);  // smallest subnormal
  EXPECT_EQ(f32_to_f8_e4m3(1.0f), 0x38);
  EXPECT_TRUE(std::isnan(f8_e4m3_to_f32(0x7F)));
  EXPECT_EQ(f8_e4m3_to_f32(0x7E), 448.0f);
  // E5M2: IEEE-like, max 57344, Inf exists.
  EXPECT_EQ(f32_to_f8_e5m2(57344.0f), 0x7B);
  EXPECT_EQ(f32_to_f8_e5m2(61440.0f), 0x7C);  // tie with odd mantissa -> Inf
  EXPECT_EQ(f32_to_f8_e5m2(1.0f), 0x3C);
  EXPECT_TRUE(std::isinf(f8_e5m2_to_f32(0x7C)));
  // fnuz: no negative zero, a single NaN 0x80.
  EXPECT_EQ(minifloat_from_f32(-0.0f, kF8E4M3FnuzFormat), 0x00u);
  EXPECT_EQ(minifloat_from_f32(NAN, kF8E4M3FnuzFormat), 0x80u);
  EXPECT_EQ(minifloat_from_f32(240.0f, kF8E4M3FnuzFormat), 0x7Fu);
  // MX formats.
  EXPECT_EQ(f8_e8m0_to_f32(127), 1.0f);
  EXPECT_EQ(f8_e8m0_to_f32(0), 0x1p-127f);
  EXPECT_TRUE(std::isnan(f8_e8m0_to_f32(0xFF)));
  EXPECT_EQ(f4_e2m1_to_f32(0x7), 6.0f);
  EXPECT_EQ(f4_e2m1_to_f32(0xB), -1.5f);
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// The vectorized bulk paths (F16C where the CPU has it) against the scalar reference, NaNs included.
TEST(FloatConvert, BulkPathsEqualScalarPaths) {
  std::vector<float> f;
  std::vector<uint16_t> bf;
  for (uint64_t u = 0; u <= 0xFFFFFFFFu; u += 65537) {
    float x;
    const uint32_t bits = static_cast<uint32_t>(u);
    std::memcpy(&x, &bits, 4);
    f.push_back(x);
  }
  for (uint32_t h = 0; h < 65536; ++h) bf.push_back(static_cast<uint16_t>(h));
  std::vector<uint16_t> out(f.size()), out_bf(bf.size());
  convert_f32_to_f16(f, out);
  for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(out[i], f32_to_f16(f[i])) << i;
  convert_bf16_to_f16(bf, out_bf);
  for (size_t i = 0; i < bf.size(); ++i) ASSERT_EQ(out_bf[i], f32_to_f16(bf16_to_f32(bf[i]))) << i;
  // f32 -> bf16 (AVX2 where present): every 65537th bit pattern (NaNs, infinities, ties) and an odd tail.
  std::vector<uint16_t> out_b(f.size());
  convert_f32_to_bf16(f, out_b);
  for (size_t i = 0; i < f.size(); ++i) ASSERT_EQ(out_b[i], f32_to_bf16(f[i])) << i;
  const std::vector<float> ties = {1.00390625f, 1.01171875f, -1.00390625f, 3.0f, 65504.0f, 1e-40f, -0.0f};
  std::vector<uint16_t> out_t(ties.size());
  convert_f32_to_bf16(ties, out_t);
  for (size_t i = 0; i < ties.size(); ++i) ASSERT_EQ(out_t[i], f32_to_bf16(ties[i])) << i;
}

}  // namespace
}  // namespace ckpt
