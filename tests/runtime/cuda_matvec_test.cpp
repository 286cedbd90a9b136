// The CUDA dequantize-matvec against the CPU: every weight type the kernels take, random matrices
// quantized on the host, y = W x on the device vs the host's scalar dequantizer and a float64 dot.
// Skips, saying why, when this build has no CUDA or the machine no device.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "quantize/quantize.h"
#include "runtime/cuda/cuda_matvec.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(CudaMatvec, EqualsTheHostDequantizerForEveryType) {
  std::string why;
  if (!runtime::cuda::device_available(&why)) GTEST_SKIP() << "CUDA matvec not checked: " << why;
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  const uint64_t rows = 37, cols = 1024;
  std::vector<float> w(rows * cols), x(cols);
  for (auto& v : w) v = normal(rng);
  for (auto& v : x) v = normal(rng);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::IQ4_NL,
                  DType::IQ4_XS, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    ASSERT_TRUE(runtime::cuda::supports(t)) << dtype_name(t);
    std::vector<std::byte> q(*dtype_bytes_for(t, w.size()));
    encode_from_f32(t, w, q);
    std::vector<float> dq(w.size());
    decode_to_f32(t, q, dq);
    const auto y = runtime::cuda::matvec(t, q.data(), rows, cols, x.data());
    for (uint64_t r = 0; r < rows; ++r) {
      double ref = 0, mag = 0;
      for (uint64_t c = 0; c < cols; ++c) {
        ref += static_cast<double>(dq[r * cols + c]) * x[c];
        mag += std::fabs(static_cast<double>(dq[r * cols + c]) * x[c]);
      }
      // f32 accumulation in a different order: a few ulps of the magnitude of the terms.
      EXPECT_NEAR(y[r], ref, 1e-5 * mag + 1e-6) << dtype_name(t) << " row " << r;
    }
  }
}

TEST(CudaMatvec, SaysWhyItCannotRun) {
  std::string why;
  if (runtime::cuda::device_available(&why)) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_FALSE(why.empty());
  EXPECT_THROW(runtime::cuda::matvec(DType::F32, nullptr, 0, 0, nullptr), Error);
}

}  // namespace
}  // namespace ckpt
