// f32 <-> storage dtype for the types conversion and quantization pass through.
#include <algorithm>
#include <cstring>

#include "formats/error.h"
#include "formats/float_convert.h"
#include "formats/model_source.h"
#include "formats/parallel.h"
#include "quantize/quantize.h"
#include "quantize/simd.h"

namespace ckpt {

namespace {
using QuantizeFn = void (*)(std::span<const float>, std::span<std::byte>);
using DequantizeFn = void (*)(std::span<const std::byte>, std::span<float>);
using WeightedFn = void (*)(std::span<const float>, std::span<const float>, std::span<std::byte>);
struct BlockCodec {
  DType dtype;
  QuantizeFn quantize;
  DequantizeFn dequantize;
  WeightedFn quantize_weighted = nullptr;  // with an importance row; none: the importance is not used
};
// One row per ggml block type ckpt implements; drives both directions.
constexpr BlockCodec kBlockCodecs[] = {
    {DType::Q8_0, quantize_q8_0, dequantize_q8_0},
    {DType::Q4_0, quantize_q4_0, dequantize_q4_0, quantize_q4_0_weighted},
    {DType::Q4_1, quantize_q4_1, dequantize_q4_1, quantize_q4_1_weighted},
    {DType::Q5_0, quantize_q5_0, dequantize_q5_0, quantize_q5_0_weighted},
    {DType::Q5_1, quantize_q5_1, dequantize_q5_1, quantize_q5_1_weighted},
    {DType::IQ4_NL, quantize_iq4_nl, dequantize_iq4_nl, quantize_iq4_nl_weighted},
    {DType::IQ4_XS, quantize_iq4_xs, dequantize_iq4_xs, quantize_iq4_xs_weighted},
    {DType::Q2_K, quantize_q2_k, dequantize_q2_k, quantize_q2_k_weighted},
    {DType::Q3_K, quantize_q3_k, dequantize_q3_k, quantize_q3_k_weighted},
    {DType::Q4_K, quantize_q4_k, dequantize_q4_k, quantize_q4_k_weighted},
    {DType::Q5_K, quantize_q5_k, dequantize_q5_k, quantize_q5_k_weighted},
    {DType::Q6_K, quantize_q6_k, dequantize_q6_k, quantize_q6_k_weighted},
    {DType::MXFP4, nullptr, dequantize_mxfp4},
    {DType::NVFP4, nullptr, dequantize_nvfp4},
    {DType::Q1_0, nullptr, dequantize_q1_0},
    {DType::Q2_0, nullptr, dequantize_q2_0},
};
const BlockCodec* block_codec(DType t) {
  for (const auto& c : kBlockCodecs) {
    if (c.dtype == t) return &c;
  }
  return nullptr;
}
}  // namespace

bool can_quantize_to(DType t) {
  const auto* c = block_codec(t);
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || (c && c->quantize);
}

bool can_dequantize_from(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::F64:
    case DType::F8_E4M3: case DType::F8_E5M2:
      return true;
    default:
      return block_codec(t) != nullptr;
  }
}

void encode_from_f32(DType t, std::span<const float> x, std::span<std::byte> out) {
  switch (t) {
    case DType::F32:
      if (!x.empty()) std::memcpy(out.data(), x.data(), x.size_bytes());
      return;
    case DType::F16:
      convert_f32_to_f16(x, {reinterpret_cast<uint16_t*>(out.data()), x.size()});
      return;
    case DType::BF16:
      convert_f32_to_bf16(x, {reinterpret_cast<uint16_t*>(out.data()), x.size()});
      return;
    default:
      if (const auto* c = block_codec(t); c && c->quantize) return c->quantize(x, out);
      throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "dtype",
                  "cannot encode " + std::string(dtype_name(t)) + " yet");
  }
}

void encode_row_weighted(DType t, std::span<const float> row, std::span<const float> importance, std::span<std::byte> out) {
  if (const auto* c = block_codec(t); c && c->quantize_weighted) return c->quantize_weighted(row, importance, out);
  encode_from_f32(t, row, out);
}

bool uses_importance(DType t) {
  const auto* c = block_codec(t);
  return c && c->quantize_weighted;
}

void decode_to_f32(DType t, std::span<const std::byte> in, std::span<float> out) {
  // SAFETY: mapped tensor data may be unaligned; every element is read through memcpy.
  auto each = [&](size_t elem_bytes, auto&& decode_one) {
    for (size_t i = 0; i < out.size(); ++i) out[i] = decode_one(in.data() + i * elem_bytes);
  };
  switch (t) {
    case DType::F32:
      if (!out.empty()) std::memcpy(out.data(), in.data(), out.size_bytes());
      return;
    case DType::F16:
      each(2, [](const std::byte* p) { uint16_t v; std::memcpy(&v, p, 2); return f16_to_f32(v); });
      return;
    case DType::BF16:
      each(2, [](const std::byte* p) { uint16_t v; std::memcpy(&v, p, 2); return bf16_to_f32(v); });
      return;
    case DType::F64:
      each(8, [](const std::byte* p) { double v; std::memcpy(&v, p, 8); return static_cast<float>(v); });
      return;
    case DType::F8_E4M3:
      each(1, [](const std::byte* p) { return f8_e4m3_to_f32(static_cast<uint8_t>(*p)); });
      return;
    case DType::F8_E5M2:
      each(1, [](const std::byte* p) { return f8_e5m2_to_f32(static_cast<uint8_t>(*p)); });
      return;
    default:
      if (const auto* c = block_codec(t)) return c->dequantize(in, out);
      throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "dtype",
                  "cannot decode " + std::string(dtype_name(t)) + " yet");
  }
}

std::vector<float> decode_tensor_values(const SourceTensor& t, unsigned threads) {
  if (t.decode) return t.decode();
  const uint64_t n = shape_numel(t.shape).value_or(0);
  if (!can_dequantize_from(t.dtype)) {
    throw Error(ErrorCode::Unsupported, t.file ? t.file->path() : "", t.offset_in_file(), "tensor '" + t.name + "'",
                "cannot read " + std::string(dtype_name(t.dtype)) + " values");
  }
  std::vector<float> out(n);
  // Block-aligned chunks on all threads: a 500 MB tensor is not a one-core pass.
  const DTypeInfo info = dtype_info(t.dtype);
  const uint64_t block = std::max<uint64_t>(1, info.block_elems);
  const uint64_t chunk = std::max<uint64_t>(block, (uint64_t{1} << 20) / block * block);
  const uint64_t n_chunks = (n + chunk - 1) / chunk;
  parallel_for(n_chunks, threads, [&](size_t first, size_t last) {
    for (size_t c = first; c < last; ++c) {
      const uint64_t begin = c * chunk, len = std::min(chunk, n - begin);
      decode_to_f32(t.dtype, t.data.subspan(begin / block * info.block_bytes, (len + block - 1) / block * info.block_bytes),
                    std::span(out).subspan(begin, len));
    }
  });
  if (t.file) t.file->release(t.data);
  return out;
}

bool cpu_has_avx2_f16c() { return simd::cpu_has_avx2(); }

}  // namespace ckpt
