// The merge's AVX2/FMA row kernel against its scalar oracle (and both against a float64 sum), on odd
// widths that exercise the 32-column blocks and the scalar tail.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "convert/lora_kernel.h"

namespace ckpt {
namespace {

TEST(LoraKernel, RowProductMatchesTheScalarOracleAndFloat64) {
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (uint64_t r : {1u, 4u, 16u, 64u}) {
    for (uint64_t cols : {1u, 7u, 32u, 33u, 100u, 2048u}) {
      std::vector<float> p(r), q(r * cols), fast(cols), ref(cols);
      for (auto& x : p) x = n(rng);
      for (auto& x : q) x = n(rng);
      lora_row(p.data(), r, q.data(), cols, fast.data());
      lora_row_ref(p.data(), r, q.data(), cols, ref.data());
      for (uint64_t i = 0; i < cols; ++i) {
        double exact = 0, magnitude = 0;
        for (uint64_t k = 0; k < r; ++k) {
          exact += static_cast<double>(p[k]) * q[k * cols + i];
          magnitude += std::fabs(static_cast<double>(p[k]) * q[k * cols + i]);
        }
        const double tol = 1e-6 * magnitude + 1e-30;  // r roundings of f32 at most
        EXPECT_NEAR(fast[i], exact, tol) << "r=" << r << " cols=" << cols << " i=" << i;
        EXPECT_NEAR(ref[i], exact, tol) << "r=" << r << " cols=" << cols << " i=" << i;
      }
    }
  }
}

TEST(LoraKernel, AddRowRoundsTheScaledProductThenTheSum) {
  std::mt19937 rng(4);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const uint64_t r = 8, cols = 77;
  std::vector<float> p(r), q(r * cols), row(cols), fast, ref;
  for (auto& x : p) x = n(rng);
  for (auto& x : q) x = n(rng);
  for (auto& x : row) x = n(rng);
  fast = row;
  ref = row;
  lora_add_row(p.data(), r, q.data(), cols, 0.375f, fast.data());
  lora_add_row_ref(p.data(), r, q.data(), cols, 0.375f, ref.data());
  std::vector<float> s(cols);
  lora_row(p.data(), r, q.data(), cols, s.data());
  for (uint64_t i = 0; i < cols; ++i) {
    const float delta = s[i] * 0.375f;
    EXPECT_EQ(fast[i], row[i] + delta) << i;  // the same f32 operations as lora_row then add
    EXPECT_NEAR(ref[i], fast[i], 1e-5 * (std::fabs(row[i]) + 1));
  }
}

TEST(LoraKernel, SquaredDifferenceMatchesTheOracle) {
  std::mt19937 rng(5);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (uint64_t len : {0u, 5u, 8u, 1000u}) {
    std::vector<float> a(len), b(len);
    for (auto& x : a) x = n(rng);
    for (auto& x : b) x = n(rng);
    const double ref = squared_difference_ref(a.data(), b.data(), len);
    EXPECT_NEAR(squared_difference(a.data(), b.data(), len), ref, 1e-6 * ref + 1e-12) << len;  // f32 differences
  }
}

}  // namespace
}  // namespace ckpt
