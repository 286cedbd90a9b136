// SIMD dot products against the scalar reference ones, row by row, for every weight type with a
// SIMD kernel (the scalar ones dequantize with the quantize library's decoders, tested bit-exact
// against ggml elsewhere).
#include <cmath>
#include <random>

#include "quantize/quantize.h"
#include "runtime/dot.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

// A random rows x cols matrix encoded as `type`, with the Weight view the kernels take.
struct EncodedMatrix {
  std::vector<float> values;
  std::vector<std::byte> bytes;
  Weight weight;
};

EncodedMatrix random_matrix(DType type, uint64_t rows, uint64_t cols, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  EncodedMatrix m;
  m.values.resize(rows * cols);
  for (auto& v : m.values) v = dist(rng);
  // Outliers and an all-zero row exercise scale extremes.
  m.values[5] = 40.0f;
  std::fill(m.values.begin() + 3 * static_cast<ptrdiff_t>(cols), m.values.begin() + 4 * static_cast<ptrdiff_t>(cols), 0.0f);
  m.bytes.resize(*dtype_bytes_for(type, m.values.size()));
  encode_from_f32(type, m.values, m.bytes);
  m.weight.dtype = type;
  m.weight.rows = rows;
  m.weight.cols = cols;
  m.weight.row_bytes = *dtype_bytes_for(type, cols);
  m.weight.data = m.bytes.data();
  return m;
}

std::vector<float> random_vector(size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

class SimdDot : public ::testing::TestWithParam<DType> {};

TEST_P(SimdDot, AgreesWithScalarReference) {
  if (!cpu_supports_avx2_kernels()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C: only the scalar kernels run here";
  const DType type = GetParam();
  const uint64_t rows = 16, cols = 4096 + 512;  // several K-quant super-blocks, a non-power-of-two count
  std::mt19937_64 rng(test::test_seed());
  const EncodedMatrix m = random_matrix(type, rows, cols, rng);
  const Weight& weight = m.weight;
  const std::vector<float> x = random_vector(cols, rng);
  const ActFormat format = act_format_for(weight);
  std::vector<std::byte> act(act_row_bytes(format, cols));
  quantize_activation(format, x.data(), cols, act.data());
  const DotFn simd = avx2_dot_for(weight), scalar = scalar_dot_for(weight);
  ASSERT_NE(simd, nullptr);
  std::vector<float> dequant(cols);
  for (uint64_t r = 0; r < rows; ++r) {
    decode_to_f32(type, weight.row(r), dequant);
    double magnitude = 0;  // sum |w x|: the scale of float rounding in either order of summation
    for (uint64_t i = 0; i < cols; ++i) magnitude += std::fabs(double{dequant[i]} * x[i]);
    const float a = simd(weight, r, act.data()), b = scalar(weight, r, act.data());
    EXPECT_NEAR(a, b, 1e-5 * magnitude + 1e-6) << dtype_name(type) << " row " << r;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, SimdDot,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::IQ4_NL,
                                           DType::Q4_K, DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// The 4-row tiles (AVX2 build and, where the CPU has it, the AVX-512 VNNI build) against the scalar
// dots, for one and two tokens.
class SimdTile : public ::testing::TestWithParam<DType> {};

TEST_P(SimdTile, AgreesWithScalarReference) {
  if (!cpu_supports_avx2_kernels()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C: only the scalar kernels run here";
  const DType type = GetParam();
  const uint64_t rows = 8, cols = 1024 + 32 * 3;
  std::mt19937_64 rng(test::test_seed());
  const EncodedMatrix m = random_matrix(type, rows, cols, rng);
  const Weight& weight = m.weight;
  const std::vector<float> x = random_vector(2 * cols, rng);
  const ActFormat format = act_format_for(weight);
  const size_t act_bytes = act_row_bytes(format, cols);
  std::vector<std::byte> act(2 * act_bytes);
  for (size_t t = 0; t < 2; ++t) quantize_activation(format, x.data() + t * cols, cols, act.data() + t * act_bytes);
  std::vector<TileFn> tiles = {avx2_tile_for(weight)};
  if (cpu_supports_avx512_kernels()) tiles.push_back(avx512_tile_for(weight));
  const DotFn scalar = scalar_dot_for(weight);
  for (TileFn tile : tiles) {
    ASSERT_NE(tile, nullptr);
    for (size_t n_tokens : {1, 2}) {
      std::vector<float> y(2 * rows, 0.0f);
      for (uint64_t r0 = 0; r0 < rows; r0 += kTileRows) tile(weight, r0, act.data(), act_bytes, n_tokens, y.data(), rows);
      for (size_t t = 0; t < n_tokens; ++t) {
        for (uint64_t r = 0; r < rows; ++r) {
          const float want = scalar(weight, r, act.data() + t * act_bytes);
          EXPECT_NEAR(y[t * rows + r], want, 1e-4 * (1 + std::fabs(want)) + 1e-3) << dtype_name(type) << " row " << r << " token " << t;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, SimdTile, ::testing::Values(DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(SimdDotBnb4, AgreesWithScalarReference) {
  if (!cpu_supports_avx2_kernels()) GTEST_SKIP() << "this CPU has no AVX2/FMA/F16C: only the scalar kernels run here";
  const uint64_t rows = 8, cols = 1024, block = 64;
  std::mt19937_64 rng(test::test_seed());
  std::uniform_int_distribution<int> byte(0, 255);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint8_t> packed(rows * cols / 2);
  for (auto& b : packed) b = static_cast<uint8_t>(byte(rng));
  std::vector<float> absmax(rows * cols / block), x(cols), code(16);
  for (auto& v : absmax) v = std::fabs(dist(rng));
  for (auto& v : x) v = dist(rng);
  for (auto& v : code) v = dist(rng);
  Weight w;
  w.bnb4 = true;
  w.bnb4_block = block;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = cols / 2;
  w.data = reinterpret_cast<const std::byte*>(packed.data());
  w.bnb4_absmax = absmax;
  w.bnb4_code = code;
  const DotFn simd = avx2_dot_for(w), scalar = scalar_dot_for(w);
  ASSERT_NE(simd, nullptr);
  for (uint64_t r = 0; r < rows; ++r) {
    // Independent value: decode the nibbles here, high nibble first.
    double expected = 0, magnitude = 0;
    for (uint64_t i = 0; i < cols; ++i) {
      const uint8_t b = packed[r * cols / 2 + i / 2];
      const double v = code[i % 2 == 0 ? b >> 4 : b & 15] * double{absmax[(r * cols + i) / block]};
      expected += v * x[i];
      magnitude += std::fabs(v * x[i]);
    }
    EXPECT_NEAR(scalar(w, r, x.data()), expected, 1e-5 * magnitude);
    EXPECT_NEAR(simd(w, r, x.data()), expected, 1e-5 * magnitude);
  }
}

TEST(ActivationQ8K, BlockSumsAndScale) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i) x[i] = static_cast<float>(i - 128) / 16.0f;  // amax 8 at i = 0
  BlockQ8K q;
  quantize_activation(ActFormat::Q8_K, x.data(), 256, &q);
  EXPECT_FLOAT_EQ(q.d, 8.0f / 127.0f);
  EXPECT_EQ(q.qs[0], -127);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int i = 0; i < 16; ++i) sum += q.qs[g * 16 + i];
    EXPECT_EQ(q.bsums[g], sum);
  }
  for (int i = 0; i < 256; ++i) EXPECT_NEAR(q.qs[i] * q.d, x[i], q.d / 2 + 1e-6);
}

}  // namespace
}  // namespace ckpt::runtime
