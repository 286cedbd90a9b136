// The per-block decoders shared with the CUDA kernels (quantize/block_decode.h) equal the scalar
// reference dequantizers bit for bit on every type: valid blocks from the quantizers (random data, zeros,
// outliers) and blocks of random bytes with finite f16 scales.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "formats/float_convert.h"
#include "quantize/bnb4.h"
#include "quantize/block_decode.h"
#include "quantize/quantize.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using DecodeFn = void (*)(const uint8_t*, float*);

struct Case {
  DType type;
  DecodeFn decode;
  std::vector<int> f16_at;  // byte offsets of the block's f16 scales
};

const Case kCases[] = {
    {DType::Q8_0, block_decode::q8_0, {0}},     {DType::Q4_0, block_decode::q4_0, {0}},       {DType::Q4_1, block_decode::q4_1, {0, 2}},
    {DType::Q5_0, block_decode::q5_0, {0}},     {DType::Q5_1, block_decode::q5_1, {0, 2}},    {DType::IQ4_NL, block_decode::iq4_nl, {0}},
    {DType::Q2_K, block_decode::q2_k, {80, 82}}, {DType::Q3_K, block_decode::q3_k, {108}},     {DType::Q4_K, block_decode::q4_k, {0, 2}},
    {DType::Q5_K, block_decode::q5_k, {0, 2}},  {DType::Q6_K, block_decode::q6_k, {208}},     {DType::IQ4_XS, block_decode::iq4_xs, {0}},
};

void expect_same(const std::vector<float>& a, const std::vector<float>& b, DType t, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    ASSERT_EQ(x, y) << dtype_name(t) << " " << what << " value " << i << ": " << a[i] << " vs " << b[i];
  }
}

std::vector<float> shared_decode(const Case& c, const std::vector<std::byte>& blocks, size_t n) {
  const DTypeInfo info = dtype_info(c.type);
  std::vector<float> out(n);
  for (size_t b = 0; b < n / info.block_elems; ++b) {
    c.decode(reinterpret_cast<const uint8_t*>(blocks.data()) + b * info.block_bytes, out.data() + b * info.block_elems);
  }
  return out;
}

TEST(BlockDecode, EqualsTheScalarDequantizersOnEveryType) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> byte(0, 255);
  const size_t n = 256 * 16;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = normal(rng) * (i % 256 == 7 ? 50.0f : 1.0f);
  for (size_t i = 512; i < 768; ++i) x[i] = 0;  // an all-zero super-block
  for (const Case& c : kCases) {
    const DTypeInfo info = dtype_info(c.type);
    // Valid blocks, from the quantizer.
    std::vector<std::byte> q(*dtype_bytes_for(c.type, n));
    encode_from_f32(c.type, x, q);
    std::vector<float> ref(n);
    decode_to_f32(c.type, q, ref);
    expect_same(shared_decode(c, q, n), ref, c.type, "quantized");
    // Any bytes, with finite scales: every code path of the layout.
    for (auto& v : q) v = static_cast<std::byte>(byte(rng));
    for (size_t b = 0; b < n / info.block_elems; ++b) {
      for (int at : c.f16_at) {
        const uint16_t h = f32_to_f16(normal(rng) * 0.01f);
        std::memcpy(q.data() + b * info.block_bytes + at, &h, 2);
      }
    }
    decode_to_f32(c.type, q, ref);
    expect_same(shared_decode(c, q, n), ref, c.type, "random bytes");
  }
}

// NF4 and FP4 with double quantization: the shared value and absmax functions equal bnb's host path.
TEST(BlockDecode, Bnb4ValuesAndNestedAbsmaxEqualTheHostDequantizer) {
  std::mt19937_64 rng(test::test_seed());
  std::normal_distribution<float> normal;
  std::vector<float> x(64 * 300 + 17);  // a ragged last block
  for (auto& v : x) v = normal(rng);
  for (Bnb4Type type : {Bnb4Type::NF4, Bnb4Type::FP4}) {
    const Bnb4Quantized q = quantize_bnb4(x, type, 64, /*double_quant=*/true, /*pack=*/true);
    const auto& code = bnb4_code(type);
    std::vector<float> ref(x.size());
    dequantize_bnb4(q.packed, q.absmax, code, 64, ref);
    const auto& map = bnb_dynamic_map();
    for (uint64_t b = 0; b < q.absmax.size(); ++b) {
      const float a = block_decode::bnb4_nested_absmax(q.absmax_codes.data(), b, map.data(), q.nested_absmax.data(), q.nested_blocksize, q.offset);
      ASSERT_EQ(a, q.absmax[b]) << "block " << b;
    }
    for (uint64_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(block_decode::bnb4_value(q.packed.data(), i, code.data(), q.absmax[i / 64]), ref[i]) << i;
    }
  }
}

TEST(BlockDecode, HalfFloatsDecodeExactlyIncludingSubnormalsAndSpecials) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = block_decode::f16(static_cast<uint16_t>(h)), b = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(b)) {
      EXPECT_TRUE(std::isnan(a)) << h;
      continue;
    }
    uint32_t x, y;
    std::memcpy(&x, &a, 4);
    std::memcpy(&y, &b, 4);
    ASSERT_EQ(x, y) << "f16 bits " << h;
  }
  EXPECT_EQ(block_decode::bf16(0x3F80), 1.0f);
  EXPECT_EQ(block_decode::bf16(0xC040), -3.0f);
}

}  // namespace
}  // namespace ckpt
