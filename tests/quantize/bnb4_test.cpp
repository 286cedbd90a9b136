// bitsandbytes 4-bit: the hand-computed vectors of spec §B.6, bnb's published dynamic-map values,
// and bnb's own accuracy figures (tests/test_functional.py) as bounds on random normal data.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "quantize/bnb4.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

std::vector<float> dequantize(const Bnb4Quantized& q, size_t n) {
  std::vector<float> out(n);
  dequantize_bnb4(q.packed, q.absmax, bnb4_code(q.type), q.blocksize, out);
  return out;
}

TEST(Bnb4, Nf4HandVectors) {
  const std::vector<float> a = {1.0f, -0.5f, 0.25f, 0.0f, 0.7f};
  const auto q = quantize_bnb4(a, Bnb4Type::NF4, 64, false);
  EXPECT_EQ(q.absmax, std::vector<float>{1.0f});
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0xF2, 0xA7, 0xE0}));  // codes 15 2 10 7 14, pad nibble 0
  const auto d = dequantize(q, 5);
  const float expected[] = {1.0f, -0.5250730514526367f, 0.24611230194568634f, 0.0f, 0.7229568362236023f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(d[i], expected[i]) << i;

  const std::vector<float> b = {2.0f, -3.0f, 0.5f, 1.5f};
  const auto qb = quantize_bnb4(b, Bnb4Type::NF4, 64, false);
  EXPECT_EQ(qb.absmax, std::vector<float>{3.0f});
  EXPECT_EQ(qb.packed, (std::vector<uint8_t>{0xE0, 0x9C}));  // codes 14 0 9 12
}

TEST(Bnb4, Fp4HandVectors) {
  // |x| = 1 -> 0b011; -0.5 -> sign | 0b101; 0.25 -> 0b111; 0 -> 0b000 (thresholds of dQuantizeFP4).
  const std::vector<float> x = {1.0f, -0.5f, 0.25f, 0.0f};
  const auto q = quantize_bnb4(x, Bnb4Type::FP4, 32, false);
  EXPECT_EQ(q.packed, (std::vector<uint8_t>{0x3D, 0x70}));
  const auto d = dequantize(q, 4);
  EXPECT_EQ(d[0], 1.0f);
  EXPECT_EQ(d[1], -0.5f);
  EXPECT_EQ(d[2], 0.25f);
}

TEST(Bnb4, ZeroBlockDequantizesToZeroAndOddLengthPads) {
  const std::vector<float> x(65, 0.0f);
  const auto q = quantize_bnb4(x, Bnb4Type::NF4, 64, false);
  EXPECT_EQ(q.packed.size(), 33u);
  for (float v : dequantize(q, 65)) EXPECT_EQ(v, 0.0f);
}

TEST(Bnb4, DynamicMapMatchesBnbValues) {
  const auto& m = bnb_dynamic_map();
  const std::pair<int, double> published[] = {{0, -0.99296875},  {1, -0.97890627}, {2, -0.96484375},   {63, -0.10703126},
                                              {64, -0.09859375}, {127, 0.0},        {128, 5.5e-07},      {129, 3.25e-06},
                                              {130, 7.75e-06},   {191, 0.10703126},  {192, 0.12109375},  {253, 0.97890627},
                                              {254, 0.99296875}, {255, 1.0}};
  for (const auto& [i, v] : published) EXPECT_NEAR(m[i], v, std::fabs(v) * 1e-7 + 1e-12) << i;
  EXPECT_TRUE(std::is_sorted(m.begin(), m.end()));
}

double mean_abs_error(const std::vector<float>& x, const std::vector<float>& y) {
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += std::fabs(static_cast<double>(x[i]) - y[i]);
  return s / static_cast<double>(x.size());
}

TEST(Bnb4, ErrorMatchesBitsandbytesOwnFigures) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  std::vector<float> x(1024 * 1024);
  for (auto& v : x) v = normal(rng);
  // bnb's mean abs error over randn(1024, 1024): NF4 bs64 0.072798, bs32 0.067746, bs128 0.076831; FP4 bs64 0.096543.
  struct Case {
    Bnb4Type type;
    uint64_t bs;
    double bnb;
  };
  for (const auto& c : {Case{Bnb4Type::NF4, 64, 0.072798}, Case{Bnb4Type::NF4, 32, 0.067746},
                        Case{Bnb4Type::NF4, 128, 0.076831}, Case{Bnb4Type::FP4, 64, 0.096543}}) {
    const auto q = quantize_bnb4(x, c.type, c.bs, false);
    EXPECT_NEAR(mean_abs_error(x, dequantize(q, x.size())), c.bnb, 0.001) << c.bs;
  }
  // Double quantization: bnb asserts abs err < 0.11 (test_4bit_compressed_stats); DQ costs almost nothing.
  const auto dq = quantize_bnb4(x, Bnb4Type::NF4, 64, true);
  const double err = mean_abs_error(x, dequantize(dq, x.size()));
  EXPECT_LT(err, 0.11);
  EXPECT_NEAR(err, 0.072798, 0.002);
  EXPECT_EQ(dq.absmax_codes.size(), 1024u * 1024 / 64);
  EXPECT_EQ(dq.nested_absmax.size(), 1024u * 1024 / 64 / 256);
}

}  // namespace
}  // namespace ckpt
