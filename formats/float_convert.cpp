#include "formats/float_convert.h"

#include <array>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#include <cmath>
#include <cstring>

namespace ckpt {

namespace {

uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float f32_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

int bit_length(uint64_t v) { return v == 0 ? 0 : 64 - __builtin_clzll(v); }

struct FormatLimits {
  uint32_t max_exp_field;       // largest exponent field of a finite value
  uint32_t max_mant_at_max_exp; // largest mantissa at that exponent
  uint32_t nan_bits;            // canonical NaN without sign
  bool has_sign_nan;
};

FormatLimits limits_of(const MiniFloatFormat& f) {
  const uint32_t all_exp = (1u << f.exponent_bits) - 1;
  const uint32_t all_mant = (1u << f.mantissa_bits) - 1;
  switch (f.kind) {
    case MiniFloatFormat::Kind::Ieee:
      return {all_exp - 1, all_mant, (all_exp << f.mantissa_bits) | (1u << (f.mantissa_bits - 1)), true};
    case MiniFloatFormat::Kind::FiniteNan:
      return {all_exp, all_mant - 1, (all_exp << f.mantissa_bits) | all_mant, true};
    case MiniFloatFormat::Kind::FiniteNanUnsignedZero:
      return {all_exp, all_mant, 1u << (f.exponent_bits + f.mantissa_bits), false};
  }
  return {};
}

}  // namespace

uint32_t minifloat_from_f32(float value, const MiniFloatFormat& format) {
  const int mb = format.mantissa_bits;
  const int eb = format.exponent_bits;
  const uint32_t sign_bit = 1u << (eb + mb);
  const FormatLimits lim = limits_of(format);
  const uint32_t u = f32_bits(value);
  const bool negative = (u >> 31) != 0;
  const uint32_t sign = negative ? sign_bit : 0;
  const uint32_t exp32 = (u >> 23) & 0xFF;
  const uint32_t frac32 = u & 0x7FFFFF;

  if (exp32 == 0xFF) {
    if (frac32 != 0 || format.kind != MiniFloatFormat::Kind::Ieee) {
      return lim.has_sign_nan ? (sign | lim.nan_bits) : lim.nan_bits;
    }
    return sign | ((lim.max_exp_field + 1) << mb);  // infinity
  }
  if (exp32 == 0 && frac32 == 0) {
    return format.kind == MiniFloatFormat::Kind::FiniteNanUnsignedZero ? 0 : sign;
  }

  // |value| = m * 2^e exactly, with m a 24-bit integer.
  const uint64_t m = exp32 == 0 ? frac32 : (frac32 | 0x800000u);
  const int e = exp32 == 0 ? -149 : static_cast<int>(exp32) - 150;
  const int min_normal_exp = 1 - format.bias;
  int target_exp = std::max(e + bit_length(m) - 1, min_normal_exp);
  // Quantum of the target binade is 2^(target_exp - mb); round m * 2^(e - quantum_exp) to an integer.
  const int shift = (target_exp - mb) - e;
  uint64_t n;
  if (shift <= 0) {
    n = m << -shift;  // exact: at most mb+1 bits
  } else if (shift >= 63) {
    n = 0;  // below half the smallest subnormal: rounds to zero
  } else {
    const uint64_t kept = m >> shift;
    const uint64_t rem = m & ((uint64_t{1} << shift) - 1);
    const uint64_t half = uint64_t{1} << (shift - 1);
    n = kept + ((rem > half || (rem == half && (kept & 1))) ? 1 : 0);
  }
  if (n >> (mb + 1)) {  // rounding carried into the next binade
    n >>= 1;
    ++target_exp;
  }
  uint32_t exp_field, mant_field;
  if (n < (uint64_t{1} << mb)) {  // subnormal (or zero after rounding)
    exp_field = 0;
    mant_field = static_cast<uint32_t>(n);
    if (n == 0 && format.kind == MiniFloatFormat::Kind::FiniteNanUnsignedZero) return 0;
  } else {
    exp_field = static_cast<uint32_t>(target_exp + format.bias);
    mant_field = static_cast<uint32_t>(n - (uint64_t{1} << mb));
  }
  if (exp_field > lim.max_exp_field || (exp_field == lim.max_exp_field && mant_field > lim.max_mant_at_max_exp)) {
    if (format.kind == MiniFloatFormat::Kind::Ieee) return sign | ((lim.max_exp_field + 1) << mb);
    return lim.has_sign_nan ? (sign | lim.nan_bits) : lim.nan_bits;
  }
  return sign | (exp_field << mb) | mant_field;
}

float minifloat_to_f32(uint32_t bits, const MiniFloatFormat& format) {
  const int mb = format.mantissa_bits;
  const int eb = format.exponent_bits;
  const uint32_t all_exp = (1u << eb) - 1;
  const uint32_t all_mant = (1u << mb) - 1;
  const bool negative = (bits >> (eb + mb)) & 1;
  const uint32_t exp_field = (bits >> mb) & all_exp;
  const uint32_t mant = bits & all_mant;
  switch (format.kind) {
    case MiniFloatFormat::Kind::Ieee:
      if (exp_field == all_exp) {
        if (mant != 0) return f32_from_bits((negative ? 0x80000000u : 0u) | 0x7FC00000u);
        return negative ? -INFINITY : INFINITY;
      }
      break;
    case MiniFloatFormat::Kind::FiniteNan:
      if (exp_field == all_exp && mant == all_mant) return f32_from_bits((negative ? 0x80000000u : 0u) | 0x7FC00000u);
      break;
    case MiniFloatFormat::Kind::FiniteNanUnsignedZero:
      if (negative && exp_field == 0 && mant == 0) return NAN;
      break;
  }
  // Every narrow value is exactly representable in f32 (fewer mantissa bits, smaller exponent range).
  float magnitude;
  if (exp_field == 0) {
    magnitude = std::ldexp(static_cast<float>(mant), 1 - format.bias - mb);
  } else {
    magnitude = std::ldexp(static_cast<float>(mant | (1u << mb)), static_cast<int>(exp_field) - format.bias - mb);
  }
  return negative ? -magnitude : magnitude;
}

uint16_t f32_to_f16(float value) {
  // Branch-light RNE: let the FPU do the rounding by adding a magic number that aligns the
  // f16 quantum with the f32 ulp (the method of Maratea's FP16 library).
  const uint32_t u = f32_bits(value);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7FFFFFFFu;
  // NaN: quiet it and keep the top payload bits, exactly as the F16C instruction (vcvtps2ph) does.
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  if (abs == 0x7F800000u) return static_cast<uint16_t>(sign | 0x7C00u);
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: overflow
  if (abs < 0x38800000u) {
    // Result is subnormal or zero: adding 0.5 aligns 2^-24 quanta with f32's ulp at 0.5.
    const float r = f32_from_bits(abs) + 0.5f;
    return static_cast<uint16_t>(sign | (f32_bits(r) - 0x3F000000u));
  }
  const uint32_t mant_odd = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xC8000FFFu + mant_odd;  // rebias exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (rounded >> 13));
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return f32_from_bits(sign | 0x7F800000u | (mant << 13));
  if (exp == 0) {
    const float m = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -m : m;
  }
  return f32_from_bits(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32_to_bf16(float value) {
  const uint32_t u = f32_bits(value);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding_bias = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

namespace {
template <const MiniFloatFormat& F>
std::array<float, 256> make_f8_table() {
  std::array<float, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) t[i] = minifloat_to_f32(i, F);
  return t;
}
}  // namespace

float f8_e4m3_to_f32(uint8_t bits) {
  static const auto table = make_f8_table<kF8E4M3Format>();
  return table[bits];
}

float f8_e5m2_to_f32(uint8_t bits) {
  static const auto table = make_f8_table<kF8E5M2Format>();
  return table[bits];
}

float f8_e8m0_to_f32(uint8_t bits) {
  if (bits == 0xFF) return NAN;
  return std::ldexp(1.0f, static_cast<int>(bits) - 127);
}

float f4_e2m1_to_f32(uint8_t nibble) {
  static constexpr float kMagnitudes[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
  const float m = kMagnitudes[nibble & 7];
  return (nibble & 8) ? -m : m;
}

void convert_f16_to_f32(std::span<const uint16_t> in, std::span<float> out) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = f16_to_f32(in[i]);
}
void convert_bf16_to_f32(std::span<const uint16_t> in, std::span<float> out) {
  for (size_t i = 0; i < in.size(); ++i) out[i] = bf16_to_f32(in[i]);
}
#if defined(__x86_64__)
// F16C converts 8 values per instruction with the same round-to-nearest-even (and NaN quieting) as
// f32_to_f16; chosen at run time so the binary still runs on CPUs without it.
__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(in + i);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = f32_to_f16(in[i]);
}

__attribute__((target("avx2,f16c"))) static void bf16_to_f16_f16c(const uint16_t* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m256 f = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(b), 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) out[i] = f32_to_f16(bf16_to_f32(in[i]));
}

static bool cpu_has_f16c() {
  // clang 14 knows no "f16c" for __builtin_cpu_supports: read CPUID leaf 1 (ECX bit 29) directly.
  static const bool has = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __builtin_cpu_supports("avx2") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
  }();
  return has;
}
#endif

void convert_f32_to_f16(std::span<const float> in, std::span<uint16_t> out) {
#if defined(__x86_64__)
  if (cpu_has_f16c()) return f32_to_f16_f16c(in.data(), out.data(), in.size());
#endif
  for (size_t i = 0; i < in.size(); ++i) out[i] = f32_to_f16(in[i]);
}

void convert_bf16_to_f16(std::span<const uint16_t> in, std::span<uint16_t> out) {
#if defined(__x86_64__)
  if (cpu_has_f16c()) return bf16_to_f16_f16c(in.data(), out.data(), in.size());
#endif
  for (size_t i = 0; i < in.size(); ++i) out[i] = f32_to_f16(bf16_to_f32(in[i]));
}
#if defined(__x86_64__)
// f32_to_bf16 eight at a time: round to nearest even on the top half, NaNs quieted.
__attribute__((target("avx2"))) static void f32_to_bf16_avx2(const float* in, uint16_t* out, size_t n) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
  const __m256i bias = _mm256_set1_epi32(0x7FFF), one = _mm256_set1_epi32(1), quiet = _mm256_set1_epi32(0x40);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, abs_mask), inf);
    const __m256i hi = _mm256_srli_epi32(u, 16);
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, _mm256_and_si256(hi, one))), 16);
    const __m256i v = _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, quiet), nan);
    // packus works per 128-bit lane: reorder the two halves after packing.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}
#endif

void convert_f32_to_bf16(std::span<const float> in, std::span<uint16_t> out) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2")) return f32_to_bf16_avx2(in.data(), out.data(), in.size());
#endif
  for (size_t i = 0; i < in.size(); ++i) out[i] = f32_to_bf16(in[i]);
}

uint64_t count_f16_nonfinite(std::span<const std::byte> bytes) {
  uint64_t n = 0;
  for (size_t k = 0; k + 1 < bytes.size(); k += 2) {
    uint16_t h;
    std::memcpy(&h, bytes.data() + k, 2);
    n += (h & 0x7C00) == 0x7C00;  // exponent all ones
  }
  return n;
}

}  // namespace ckpt
