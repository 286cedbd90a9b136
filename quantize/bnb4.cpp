#include "quantize/bnb4.h"

#include "quantize/simd.h"

#include <algorithm>
#include <cmath>

namespace ckpt {

namespace {

// bnb's NF4 table (functional.py get_4bit_type / kernels.cu nf4_dequantization_lut).
constexpr std::array<float, 16> kNF4 = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// The thresholds of dQuantizeNF4's comparison tree (float32 midpoints of adjacent codes).
constexpr std::array<float, 15> kNF4Thresholds = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f, -0.23460740596055984f,
    -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f, 0.1202552504837513f, 0.2035212516784668f,
    0.2920137718319893f, 0.3893125355243683f, 0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};

// bnb FP4 (1 sign, 2 exponent, 1 mantissa bit), raw values / 12, in code order.
constexpr std::array<float, 16> kFP4 = {0.0f, 0.0052083333f, 0.6666667f, 1.0f, 0.3333333f, 0.5f, 0.1666667f, 0.25f,
                                        -0.0f, -0.0052083333f, -0.6666667f, -1.0f, -0.3333333f, -0.5f, -0.1666667f, -0.25f};

uint8_t nf4_code(float x) {
  // NaN compares false everywhere and lands on code 0, as on bnb's CUDA path.
  uint8_t code = 0;
  for (float t : kNF4Thresholds) code = static_cast<uint8_t>(code + (x > t ? 1 : 0));
  return code;
}

uint8_t fp4_code(float x) {  // dQuantizeFP4's tree
  const uint8_t sign = x < 0 ? 0b1000 : 0;
  const float a = std::fabs(x);
  uint8_t bits;
  if (a > 0.29166667f) {
    bits = a > 0.583333f ? (a > 0.8333333f ? 0b011 : 0b010) : (a > 0.4166667f ? 0b101 : 0b100);
  } else {
    bits = a > 0.0859375f ? (a > 0.20833333f ? 0b111 : 0b110) : (a > 0.00260417f ? 0b001 : 0b000);
  }
  return static_cast<uint8_t>(sign | bits);
}

// torch.linspace in float32 (ATen's kernel: the first half counts up from start, the rest down from end).
std::vector<float> linspace_f32(float start, float end, int steps) {
  std::vector<float> out(static_cast<size_t>(steps));
  const float step = (end - start) / static_cast<float>(steps - 1);
  for (int i = 0; i < steps; ++i) {
    out[static_cast<size_t>(i)] = i < steps / 2 ? start + step * static_cast<float>(i)
                                                : end - step * static_cast<float>(steps - i - 1);
  }
  return out;
}

}  // namespace

const std::array<float, 16>& bnb4_code(Bnb4Type type) { return type == Bnb4Type::NF4 ? kNF4 : kFP4; }

const std::array<float, 256>& bnb_dynamic_map() {
  static const std::array<float, 256> kMap = [] {
    std::vector<float> data;
    for (int i = 0; i < 7; ++i) {
      const auto b = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
      const float scale = static_cast<float>(std::pow(10.0, -6 + i));  // the Python scalar, cast by torch to f32
      for (size_t k = 0; k + 1 < b.size(); ++k) {
        const float mean = (b[k] + b[k + 1]) / 2.0f;
        data.push_back(scale * mean);
        data.push_back(-scale * mean);
      }
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    std::array<float, 256> out{};
    std::copy(data.begin(), data.end(), out.begin());
    return out;
  }();
  return kMap;
}

bool is_valid_bnb_blocksize(uint64_t b) { return b >= 32 && b <= 4096 && (b & (b - 1)) == 0; }

void bnb4_block_absmax(std::span<const float> x, uint64_t blocksize, std::span<float> absmax) {
  const uint64_t n = x.size();
  for (uint64_t b = 0; b < absmax.size(); ++b) {
    const uint64_t begin = b * blocksize, end = std::min(n, begin + blocksize);
    if (end - begin == blocksize && simd::cpu_has_avx2()) {
      absmax[b] = simd::absmax_avx2(x.data() + begin, blocksize);
      continue;
    }
    float amax = 0.0f;
    for (uint64_t i = begin; i < end; ++i) amax = std::max(amax, std::fabs(x[i]));
    absmax[b] = amax;
  }
}

void bnb4_pack_codes(std::span<const float> x, std::span<const float> absmax, Bnb4Type type, uint64_t blocksize,
                     std::span<uint8_t> packed) {
  const uint64_t n = x.size();
  std::fill(packed.begin(), packed.end(), uint8_t{0});
  for (uint64_t b = 0; b < absmax.size(); ++b) {
    const uint64_t begin = b * blocksize, end = std::min(n, begin + blocksize);
    const float inv = 1.0f / absmax[b];  // CUDA: an all-zero block gives inf * 0 = NaN -> code 0; it dequantizes to 0
    if (type == Bnb4Type::NF4 && simd::cpu_has_avx2()) {
      uint8_t codes[4096 + 1];
      simd::nf4_codes_avx2(x.data() + begin, end - begin, inv, kNF4Thresholds.data(), codes);
      codes[end - begin] = 0;  // an odd tail pairs with a zero low nibble
      // begin is even (block sizes are even), so byte j of the block holds elements 2j (high) and 2j + 1.
      uint8_t* dst = packed.data() + begin / 2;
      for (uint64_t j = 0; j < (end - begin + 1) / 2; ++j) dst[j] = static_cast<uint8_t>((codes[2 * j] << 4) | codes[2 * j + 1]);
      continue;
    }
    for (uint64_t i = begin; i < end; ++i) {
      const float v = x[i] * inv;
      const uint8_t code = type == Bnb4Type::NF4 ? nf4_code(v) : fp4_code(v);
      packed[i / 2] |= static_cast<uint8_t>(i % 2 == 0 ? code << 4 : code);  // even element -> high nibble
    }
  }
}

void bnb4_double_quantize(Bnb4Quantized& q) {
  q.nested = true;
  const uint64_t n_blocks = q.absmax.size();
  double sum = 0;
  for (float a : q.absmax) sum += a;
  q.offset = n_blocks ? static_cast<float>(sum / static_cast<double>(n_blocks)) : 0.0f;
  const auto& map = bnb_dynamic_map();
  std::array<float, 255> midpoints;
  for (size_t k = 0; k < 255; ++k) midpoints[k] = (map[k] + map[k + 1]) * 0.5f;
  const uint64_t n_nested = (n_blocks + q.nested_blocksize - 1) / q.nested_blocksize;
  q.nested_absmax.resize(n_nested);
  q.absmax_codes.resize(n_blocks);
  for (uint64_t j = 0; j < n_nested; ++j) {
    const uint64_t begin = j * q.nested_blocksize, end = std::min(n_blocks, begin + q.nested_blocksize);
    float amax = 0.0f;
    for (uint64_t b = begin; b < end; ++b) amax = std::max(amax, std::fabs(q.absmax[b] - q.offset));
    q.nested_absmax[j] = amax;
    const float inv = 1.0f / amax;
    for (uint64_t b = begin; b < end; ++b) {
      const float v = (q.absmax[b] - q.offset) * inv;
      // torch.bucketize(v, midpoints): the number of midpoints strictly below v, as a branch-free
      // binary search over the 255 sorted midpoints (lower_bound's answer; NaN counts none).
      unsigned idx = 0;
      for (unsigned step = 128; step != 0; step >>= 1) idx += midpoints[idx + step - 1] < v ? step : 0;
      q.absmax_codes[b] = static_cast<uint8_t>(idx);
    }
  }
  // What readers will reconstruct, so dequantizing the state in memory equals dequantizing the file.
  q.absmax = dequantize_nested_absmax(q.absmax_codes, q.nested_absmax, map, q.offset, q.nested_blocksize);
}

Bnb4Quantized quantize_bnb4(std::span<const float> x, Bnb4Type type, uint64_t blocksize, bool double_quant, bool pack) {
  Bnb4Quantized q;
  q.type = type;
  q.blocksize = blocksize;
  const uint64_t n = x.size(), n_blocks = (n + blocksize - 1) / blocksize;
  q.absmax.resize(n_blocks);
  bnb4_block_absmax(x, blocksize, q.absmax);
  if (pack) {
    q.packed.resize((n + 1) / 2);
    bnb4_pack_codes(x, q.absmax, type, blocksize, q.packed);
  }
  if (double_quant) bnb4_double_quantize(q);
  return q;
}

std::vector<float> dequantize_nested_absmax(std::span<const uint8_t> codes, std::span<const float> nested_absmax,
                                            std::span<const float> code_map, float offset, uint64_t nested_blocksize) {
  std::vector<float> out(codes.size());
  for (size_t i = 0; i < codes.size(); ++i) out[i] = code_map[codes[i]] * nested_absmax[i / nested_blocksize] + offset;
  return out;
}

void dequantize_bnb4(std::span<const uint8_t> packed, std::span<const float> absmax, std::span<const float> code,
                     uint64_t blocksize, std::span<float> out) {
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t byte = packed[i / 2];
    const uint8_t q = i % 2 == 0 ? byte >> 4 : byte & 0x0F;
    out[i] = code[q] * absmax[i / blocksize];
  }
}

}  // namespace ckpt
