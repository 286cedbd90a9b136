#include <cmath>
#include <cstring>

#include "formats/float_convert.h"
#include "quantize/quantize.h"
#include "quantize/simd.h"

namespace ckpt {

void quantize_q8_0(std::span<const float> x, std::span<std::byte> out) {
  if (simd::cpu_has_avx2()) return simd::quantize_q8_0_avx2(x.data(), x.size() / 32, out.data());
  quantize_q8_0_ref(x, out);
}

void quantize_q8_0_ref(std::span<const float> x, std::span<std::byte> out) {
  const size_t n_blocks = x.size() / 32;
  for (size_t b = 0; b < n_blocks; ++b) {
    const float* v = x.data() + 32 * b;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 block;
    block.d = f32_to_f16(d);
    for (int j = 0; j < 32; ++j) block.qs[j] = static_cast<int8_t>(std::roundf(v[j] * id));  // half away from 0
    std::memcpy(out.data() + sizeof(BlockQ8_0) * b, &block, sizeof(block));
  }
}

void dequantize_q8_0(std::span<const std::byte> in, std::span<float> out) {
  const size_t n_blocks = out.size() / 32;
  for (size_t b = 0; b < n_blocks; ++b) {
    BlockQ8_0 block;
    std::memcpy(&block, in.data() + sizeof(BlockQ8_0) * b, sizeof(block));
    const float d = f16_to_f32(block.d);
    for (int j = 0; j < 32; ++j) out[32 * b + j] = static_cast<float>(block.qs[j]) * d;
  }
}

}  // namespace ckpt
