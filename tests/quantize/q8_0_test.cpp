// Q8_0 against ggml's reference rules computed independently in float64 (spec §2.1).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "formats/float_convert.h"
#include "quantize/quantize.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(Q8_0, HandComputedBlock) {
  // x = j - 16: amax 16, d = 16/127, q = round_half_away(x * 127/16).
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  std::vector<std::byte> out(34);
  quantize_q8_0(x, out);
  BlockQ8_0 b;
  std::memcpy(&b, out.data(), 34);
  EXPECT_EQ(b.d, 0x3008);  // f16(0.1259842...) = 0.125977 (hand-rounded: 1.007874 * 2^-3 -> mantissa 8/1024)
  const int expected_edges[] = {-127, -119, -111};
  for (int j = 0; j < 3; ++j) EXPECT_EQ(b.qs[j], expected_edges[j]);
  EXPECT_EQ(b.qs[8], -64);  // -8 * 7.9375 = -63.5: half rounds away from zero
  EXPECT_EQ(b.qs[16], 0);
  EXPECT_EQ(b.qs[31], 119);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b.qs[j], static_cast<int>(std::round((j - 16) * 127.0 / 16.0))) << j;
  std::vector<float> back(32);
  dequantize_q8_0(out, back);
  EXPECT_FLOAT_EQ(back[0], -127 * f16_to_f32(0x3008));
}

TEST(Q8_0, ZeroBlockAndErrorBound) {
  std::vector<float> zeros(32, 0.0f);
  std::vector<std::byte> out(34, std::byte{0xFF});
  quantize_q8_0(zeros, out);
  for (auto b : out) EXPECT_EQ(b, std::byte{0});
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  std::vector<float> x(32 * 256), y(x.size());
  for (auto& v : x) v = normal(rng);
  std::vector<std::byte> q(34 * 256);
  quantize_q8_0(x, q);
  dequantize_q8_0(q, y);
  for (size_t blk = 0; blk < 256; ++blk) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
    // Half a quantization step, plus the f16 rounding of d (relative 2^-11) on the largest value.
    const float bound = amax / 127.0f * 0.5f + amax * 0x1p-11f * 1.01f;
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(x[blk * 32 + j] - y[blk * 32 + j]), bound);
  }
}

}  // namespace
}  // namespace ckpt
