// ggml block quantizers: ggml's own accuracy test (test-quantize-fns: data 0.1 + 2 cos(i), error
// sqrt(sum d^2) / n below 0.002 for 4-bit and up), error bounds on random normal and heavy-tailed
// data, hand-built blocks, and idempotence where the format implies it. Bit-exactness against
// llama.cpp itself is checked by the interop tests (interop.llama_cpp.quantize-*).
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <random>

#include "formats/float_convert.h"
#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

const DType kTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,   DType::IQ4_NL,
                        DType::IQ4_XS, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};

// test-quantize-fns' caps: 0.002 for 4 bits and up, 0.0040 for 3 bits, 0.0075 for 2 bits.
double ggml_error_cap(DType t) { return t == DType::Q2_K ? 0.0075 : t == DType::Q3_K ? 0.0040 : 0.002; }

std::vector<float> round_trip(DType t, const std::vector<float>& x) {
  std::vector<std::byte> q(*dtype_bytes_for(t, x.size()));
  encode_from_f32(t, x, q);
  std::vector<float> y(x.size());
  decode_to_f32(t, q, y);
  return y;
}

TEST(GgmlQuants, GgmlsOwnAccuracyTest) {
  constexpr size_t n = 32 * 128;  // test-quantize-fns' test_size
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = 0.1f + 2.0f * std::cos(static_cast<float>(i));
  for (DType t : kTypes) {
    const auto y = round_trip(t, x);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += (x[i] - y[i]) * (x[i] - y[i]);
    EXPECT_LT(std::sqrt(sum) / n, ggml_error_cap(t)) << dtype_name(t);
  }
}

TEST(GgmlQuants, ErrorStaysWithinTheGridStepOnNormalAndHeavyTailedData) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  std::student_t_distribution<float> heavy(3.0f);
  // Uniform quantization with step s has RMS error s/sqrt(12). Caps: 1.5x that for a grid spanning
  // the group's absmax (symmetric 2^b levels, asymmetric 2^b - 1 steps; K-quants 1.3x more for their
  // 6-bit scales), measured per 256-value group against the group's absmax.
  auto cap = [](double levels) { return 1.5 * (2.0 / (levels - 1)) / std::sqrt(12.0); };
  const std::pair<DType, double> caps[] = {{DType::Q8_0, cap(255)},      {DType::Q4_0, cap(16)},   {DType::Q4_1, cap(16)},
                                           {DType::Q5_0, cap(32)},       {DType::Q5_1, cap(32)},   {DType::IQ4_NL, cap(16)},
                                           {DType::Q4_K, 1.3 * cap(16)}, {DType::Q5_K, 1.3 * cap(32)}, {DType::Q6_K, 1.3 * cap(64)},
                                           {DType::IQ4_XS, 1.3 * cap(16)}, {DType::Q3_K, 1.3 * cap(8)}, {DType::Q2_K, 1.3 * cap(4)}};
  for (int d = 0; d < 2; ++d) {
    std::vector<float> x(256 * 64);
    for (auto& v : x) v = d == 0 ? normal(rng) : heavy(rng);
    for (const auto& [t, c] : caps) {
      const auto y = round_trip(t, x);
      double worst = 0;
      for (size_t g = 0; g < x.size(); g += 256) {
        double sq = 0, amax = 0;
        for (size_t i = g; i < g + 256; ++i) {
          sq += (x[i] - y[i]) * (x[i] - y[i]);
          amax = std::max(amax, static_cast<double>(std::fabs(x[i])));
        }
        worst = std::max(worst, std::sqrt(sq / 256) / amax);
      }
      EXPECT_LT(worst, c) << dtype_name(t) << (d == 0 ? " normal" : " student-t");
    }
  }
}

TEST(GgmlQuants, HandBuiltQ4_0Block) {
  // x = j - 16 (j = 0..31): the largest magnitude is -16 (first on ties), d = -16 / -8 = 2,
  // q = min(15, trunc(x / 2 + 8.5)): x = -16 -> 0, x = 15 -> 15 (16 clamped), x = -1 -> 8 (7.99..+.5).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  std::vector<std::byte> q(18);
  quantize_q4_0(x, q);
  BlockQ4_0 b;
  std::memcpy(&b, q.data(), 18);
  EXPECT_EQ(f16_to_f32(b.d), 2.0f);
  EXPECT_EQ(b.qs[0] & 0xF, 0);        // x[0] = -16
  EXPECT_EQ(b.qs[15] & 0xF, 8);       // x[15] = -1 -> trunc(-0.5 + 8.5) = 8
  EXPECT_EQ(b.qs[0] >> 4, 8);         // x[16] = 0 -> 8
  EXPECT_EQ(b.qs[15] >> 4, 15);       // x[31] = 15 -> trunc(16.0) = 16 -> 15
  std::vector<float> y(32);
  dequantize_q4_0(q, y);
  EXPECT_EQ(y[0], -16.0f);
  EXPECT_EQ(y[31], 14.0f);
}

TEST(GgmlQuants, RequantizingDequantizedDataIsStable) {
  std::mt19937_64 rng(test::test_seed() + 1);
  std::normal_distribution<float> normal;
  std::vector<float> x(256 * 16);
  for (auto& v : x) v = normal(rng);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q5_0}) {
    const auto once = round_trip(t, x);
    const auto twice = round_trip(t, once);
    EXPECT_EQ(once, twice) << dtype_name(t);
  }
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// The AVX2 paths (used when the CPU has AVX2) against the scalar references, on random data and on
// values built to land exactly on rounding ties (x * id = k + 0.5).
TEST(GgmlQuants, VectorizedPathsEqualScalarReferences) {
  std::mt19937_64 rng(test::test_seed() + 2);
  std::normal_distribution<float> normal;
  std::vector<float> x(32 * 4096);
  for (auto& v : x) v = normal(rng);
  for (size_t b = 0; b < 64; ++b) {  // tie blocks: amax 127 -> id 1, values k + 0.5
    x[32 * b] = 127.0f;
    for (int j = 1; j < 32; ++j) x[32 * b + j] = static_cast<float>(j - 16) + 0.5f;
  }
  for (size_t b = 64; b < 128; ++b) {  // Q4_0 ties: max -8 -> d = 1, id = 1; x + 8.5 exact
    x[32 * b] = -8.0f;
    for (int j = 1; j < 32; ++j) x[32 * b + j] = static_cast<float>(j % 16) - 8.0f + (j % 2 ? 0.5f : 0.0f);
  }
  x[32 * 200 + 3] = 9.0f;  // equal magnitudes: the first one sets the sign
  x[32 * 200 + 5] = -9.0f;
  x[32 * 201 + 2] = -9.0f;  // the negative one first: the 8-block signed max takes the scalar rule
  x[32 * 201 + 7] = 9.0f;
  std::fill(x.begin() + 32 * 202, x.begin() + 32 * 203, 0.0f);  // all zeros: scale 0
  for (int j = 0; j < 32; ++j) x[32 * 203 + j] = -0.01f * static_cast<float>(j + 1);  // all negative
  std::vector<std::byte> fast(34 * 4096), ref(34 * 4096);
  quantize_q8_0(x, fast);
  quantize_q8_0_ref(x, ref);
  EXPECT_EQ(fast, ref);
  fast.assign(18 * 4096, std::byte{0});
  ref.assign(18 * 4096, std::byte{0});
  quantize_q4_0(x, fast);
  quantize_q4_0_ref(x, ref);
  EXPECT_EQ(fast, ref);
  // K-quants: constant sub-blocks (max == min) and all-zero super-blocks take the early exits.
  std::fill(x.begin() + 256 * 300, x.begin() + 256 * 300 + 32, 0.25f);
  std::fill(x.begin() + 256 * 301, x.begin() + 256 * 302, 0.0f);
  std::fill(x.begin() + 256 * 302 + 64, x.begin() + 256 * 302 + 96, -3.0f);
  std::fill(x.begin() + 256 * 303 + 16, x.begin() + 256 * 303 + 32, 1e-20f);  // a Q6_K sub-block under the epsilon
  for (DType t : {DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    const size_t bytes = *dtype_bytes_for(t, x.size());
    fast.assign(bytes, std::byte{0});
    ref.assign(bytes, std::byte{0});
    encode_from_f32(t, x, fast);
    (t == DType::Q4_K ? quantize_q4_k_ref : t == DType::Q5_K ? quantize_q5_k_ref : quantize_q6_k_ref)(x, ref);
    EXPECT_EQ(fast, ref) << dtype_name(t);
  }
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// The ggml types newer than ckpt's quantizers, decoded by their specifications (OCP MX: value =
// E2M1(code) * 2^(e - 127); NVFP4: E2M1(code) * UE4M3 scale per 16; Q1_0: +-d; Q2_0: (q - 1) * d),
// hand-computed, not through ggml's halved tables.
TEST(NewGgmlTypes, DecodeHandComputedBlocks) {
  const float e2m1[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  std::vector<std::byte> mx(17);
  mx[0] = std::byte{129};  // 2^(129-127) = 4
  for (int j = 0; j < 16; ++j) mx[1 + j] = static_cast<std::byte>((j & 0xF) | ((15 - j) << 4));
  std::vector<float> out(32);
  decode_to_f32(DType::MXFP4, mx, out);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], e2m1[j] * 4) << j;
    EXPECT_EQ(out[j + 16], e2m1[15 - j] * 4) << j;
  }
  std::vector<std::byte> nv(36);
  nv[0] = std::byte{0x38};  // UE4M3 1.0
  nv[1] = std::byte{0x40};  // 2.0
  nv[2] = std::byte{0x30};  // 0.5
  nv[3] = std::byte{0x3C};  // 1.5
  for (int i = 0; i < 32; ++i) nv[4 + i] = static_cast<std::byte>(0x72);  // low 2 (1.0), high 7 (6.0)
  std::vector<float> nout(64);
  decode_to_f32(DType::NVFP4, nv, nout);
  const float scales[4] = {1.0f, 2.0f, 0.5f, 1.5f};
  for (int s = 0; s < 4; ++s) {
    for (int j = 0; j < 8; ++j) {
      EXPECT_EQ(nout[s * 16 + j], 1.0f * scales[s]);
      EXPECT_EQ(nout[s * 16 + 8 + j], 6.0f * scales[s]);
    }
  }
  std::vector<std::byte> q1(18);
  q1[0] = std::byte{0x00};
  q1[1] = std::byte{0x40};  // f16 2.0
  q1[2] = std::byte{0x05};  // elements 0 and 2 set
  std::vector<float> o1(128);
  decode_to_f32(DType::Q1_0, q1, o1);
  EXPECT_EQ(o1[0], 2.0f);
  EXPECT_EQ(o1[1], -2.0f);
  EXPECT_EQ(o1[2], 2.0f);
  EXPECT_EQ(o1[127], -2.0f);
  std::vector<std::byte> q2(18);
  q2[1] = std::byte{0x3C};  // f16 1.0
  q2[2] = std::byte{0xE4};  // codes 0, 1, 2, 3 -> -1, 0, 1, 2
  std::vector<float> o2(64);
  decode_to_f32(DType::Q2_0, q2, o2);
  EXPECT_EQ(o2[0], -1.0f);
  EXPECT_EQ(o2[1], 0.0f);
  EXPECT_EQ(o2[2], 1.0f);
  EXPECT_EQ(o2[3], 2.0f);
  EXPECT_FALSE(can_quantize_to(DType::MXFP4)) << "decode only";
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// Q2_K, Q3_K and IQ4_XS decoded from blocks laid out by hand from ggml-common.h, expected values
// worked out on paper (element e of a super-block: half h = e / 128, shift 2k with k = (e % 128) / 32,
// l = e % 32; sub-block 8h + 2k + (l >= 16)).
TEST(LowBitGgmlTypes, DecodeHandBuiltBlocks) {
  // Q2_K: scales[s] = (s + 1) | 1 << 4, d = 1, dmin = 0.5; every qs byte 0b11100100, so q = k.
  BlockQ2_K q2{};
  for (int s = 0; s < 16; ++s) q2.scales[s] = static_cast<uint8_t>((s + 1) | (1 << 4));
  std::fill(std::begin(q2.qs), std::end(q2.qs), uint8_t{0xE4});
  q2.d = 0x3C00;
  q2.dmin = 0x3800;
  std::vector<float> out(256);
  decode_to_f32(DType::Q2_K, std::as_bytes(std::span(&q2, 1)), out);
  EXPECT_EQ(out[0], -0.5f);    // s 0, q 0
  EXPECT_EQ(out[40], 2.5f);    // s 2 (scale 3), q 1
  EXPECT_EQ(out[56], 3.5f);    // s 3 (scale 4), q 1
  EXPECT_EQ(out[200], 25.5f);  // s 12 (scale 13), q 2
  EXPECT_EQ(out[239], 3 * 15 - 0.5f);  // s 14 (scale 15), q 3

  // Q3_K: every 6-bit scale 33 (-> 1) except sub-block 5 at 40 (-> 8); d = 1; q = k from qs; the high
  // bit set for l < 16 only, so l >= 16 reads q - 4.
  BlockQ3_K q3{};
  for (int j = 0; j < 8; ++j) q3.scales[j] = 0x11;  // low nibbles of scales j and j + 8
  q3.scales[5] = 0x18;                               // scale 5's low nibble 8 (40 = 0b10'1000)
  for (int j = 8; j < 12; ++j) q3.scales[j] = 0xAA;  // high two bits 2 for all 16
  std::fill(std::begin(q3.qs), std::end(q3.qs), uint8_t{0xE4});
  for (int l = 0; l < 16; ++l) q3.hmask[l] = 0xFF;
  q3.d = 0x3C00;
  decode_to_f32(DType::Q3_K, std::as_bytes(std::span(&q3, 1)), out);
  EXPECT_EQ(out[0], 0.0f);     // q 0, high bit set
  EXPECT_EQ(out[16], -4.0f);   // q 0 - 4
  EXPECT_EQ(out[64], 2.0f);    // sub-block 4, q 2
  EXPECT_EQ(out[80], -16.0f);  // sub-block 5 (scale 8), q 2 - 4
  EXPECT_EQ(out[255], -1.0f);  // sub-block 15, q 3 - 4

  // IQ4_XS: d = 0.5; sub-scale 0 = 1 | 2 << 4 = 33 (-> 1), sub-scale 1 = 2 (-> -30); element 0 code 15
  // (113), element 16 code 8 (1), element 32 code 0 (-127).
  BlockIQ4_XS x{};
  x.d = 0x3800;
  x.scales_l[0] = 0x21;
  x.scales_h = 0x0002;
  x.qs[0] = 0x8F;
  x.qs[16] = 0x00;
  decode_to_f32(DType::IQ4_XS, std::as_bytes(std::span(&x, 1)), out);
  EXPECT_EQ(out[0], 56.5f);
  EXPECT_EQ(out[16], 0.5f);
  EXPECT_EQ(out[32], 1905.0f);
}

// With a flat importance row, the weighted quantizers still land within their grid; with one column
// weighted 1000x, that column's error does not grow (the point of the imatrix).
TEST(LowBitGgmlTypes, ImportanceWeightsTheErrorTowardsImportantColumns) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  const size_t n = 512, rows = 64;
  std::vector<float> x(n * rows);
  for (auto& v : x) v = normal(rng);
  std::vector<float> heavy(n, 1.0f);
  for (size_t i = 0; i < n; i += 16) heavy[i] = 1000.0f;
  for (DType t : kTypes) {
    if (!uses_importance(t)) continue;
    const uint64_t row_bytes = *dtype_bytes_for(t, n);
    std::vector<std::byte> plain(rows * row_bytes), weighted(rows * row_bytes);
    encode_from_f32(t, x, plain);
    for (size_t r = 0; r < rows; ++r) {
      encode_row_weighted(t, std::span(x).subspan(r * n, n), heavy, std::span(weighted).subspan(r * row_bytes, row_bytes));
    }
    std::vector<float> yp(x.size()), yw(x.size());
    decode_to_f32(t, plain, yp);
    decode_to_f32(t, weighted, yw);
    double err_plain = 0, err_weighted = 0;
    for (size_t r = 0; r < rows; ++r) {
      for (size_t i = 0; i < n; i += 16) {
        err_plain += std::pow(x[r * n + i] - yp[r * n + i], 2);
        err_weighted += std::pow(x[r * n + i] - yw[r * n + i], 2);
      }
    }
    EXPECT_LT(err_weighted, err_plain) << dtype_name(t);
  }
}

}  // namespace
}  // namespace ckpt
