// FP8 checkpoints (DeepSeek-V3, Qwen3-FP8, Llama FP8 releases): F8_E4M3 weights with a companion scale,
// dequantized as convert_hf_to_gguf's dequant_simple does: value = f8 * scale, the scale repeated over
// blocks of quantization_config.weight_block_size (e.g. 128 x 128) and cut to the weight's shape, or
// broadcast when it is per tensor / per output channel. `weight_scale_inv` is multiplied too (the name
// is historical). input_scale / activation_scale only matter to FP8 matmuls and are dropped.
#include "formats/fp8_fold.h"

#include <cmath>
#include <cstring>
#include <unordered_map>

#include "formats/float_convert.h"
#include "formats/hf_config.h"
#include "formats/json_header.h"

namespace ckpt {

namespace {

bool ends_with_any(const std::string& s, std::initializer_list<const char*> suffixes) {
  for (const char* x : suffixes) {
    if (s.ends_with(x)) return true;
  }
  return false;
}

std::vector<float> decode_plain(const SourceTensor& t) {
  std::vector<float> out(shape_numel(t.shape).value_or(0));
  auto at = [&](size_t i, size_t bytes) { return t.data.data() + i * bytes; };
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case DType::F32: { float v; std::memcpy(&v, at(i, 4), 4); out[i] = v; break; }
      case DType::BF16: { uint16_t v; std::memcpy(&v, at(i, 2), 2); out[i] = bf16_to_f32(v); break; }
      case DType::F16: { uint16_t v; std::memcpy(&v, at(i, 2), 2); out[i] = f16_to_f32(v); break; }
      case DType::F8_E4M3: out[i] = f8_e4m3_to_f32(static_cast<uint8_t>(*at(i, 1))); break;
      case DType::F8_E5M2: out[i] = f8_e5m2_to_f32(static_cast<uint8_t>(*at(i, 1))); break;
      default:
        throw Error(ErrorCode::BadDType, t.file ? t.file->path() : "", t.offset_in_file(), "tensor '" + t.name + "'",
                    std::string("an FP8 scale or weight cannot be ") + std::string(dtype_name(t.dtype)));
    }
  }
  return out;
}

[[noreturn]] void fail(const SourceTensor& t, const std::string& detail) {
  throw Error(ErrorCode::BadShape, t.file ? t.file->path() : "", t.offset_in_file(), "tensor '" + t.name + "'", detail);
}

}  // namespace

std::vector<float> dequantize_fp8(const SourceTensor& weight, const SourceTensor& scale, const std::vector<uint64_t>& block) {
  std::vector<float> w = decode_plain(weight);
  const std::vector<float> s = decode_plain(scale);
  const auto& ws = weight.shape;
  if (ws.size() != 2) fail(weight, "an FP8 weight with a scale must be 2-D");
  const uint64_t rows = ws[0], cols = ws[1];
  if (!block.empty()) {
    if (block.size() != 2 || block[0] == 0 || block[1] == 0) fail(scale, "weight_block_size must be two positive sizes");
    const uint64_t br = (rows + block[0] - 1) / block[0], bc = (cols + block[1] - 1) / block[1];
    if (scale.shape != std::vector<uint64_t>{br, bc}) {
      fail(scale, "is " + shape_to_string(scale.shape) + " but a " + shape_to_string(ws) + " weight in blocks of " +
                      shape_to_string(block) + " needs " + shape_to_string(std::vector<uint64_t>{br, bc}));
    }
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= s[(r / block[0]) * bc + c / block[1]];
    }
    return w;
  }
  const uint64_t n = s.size();
  if (n == 1) {
    for (auto& v : w) v *= s[0];
  } else if (n == rows && (scale.shape.size() == 1 || (scale.shape.size() == 2 && scale.shape[1] == 1))) {
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t c = 0; c < cols; ++c) w[r * cols + c] *= s[r];
    }
  } else {
    fail(scale, "is " + shape_to_string(scale.shape) + ": not per tensor, per output channel, or blocks (config.json has no weight_block_size)");
  }
  return w;
}

void fold_fp8_weights(ModelSource& source) {
  std::unordered_map<std::string, const SourceTensor*> by_name;
  for (const auto& t : source.tensors) by_name.emplace(t.name, &t);
  bool any = false;
  for (const auto& t : source.tensors) {
    if ((t.dtype == DType::F8_E4M3 || t.dtype == DType::F8_E5M2) && (by_name.count(t.name + "_scale_inv") || by_name.count(t.name + "_scale"))) any = true;
  }
  if (!any) return;
  std::vector<uint64_t> block;
  DType compute = DType::BF16;
  if (source.config_path) {
    const JsonFile config = JsonFile::read(*source.config_path);
    const auto q = config.json().find("quantization_config");
    if (q != config.json().end() && q->is_object()) {
      if (const auto b = q->find("weight_block_size"); b != q->end() && b->is_array()) {
        for (const auto& v : *b) {
          if (!v.is_number_unsigned()) config.fail("quantization_config", "weight_block_size must be positive integers");
          block.push_back(v.get<uint64_t>());
        }
      }
    }
    if (config.opt_str("torch_dtype") == std::optional<std::string>("float16")) compute = DType::F16;
  }
  std::vector<SourceTensor> folded;
  for (const auto& t : source.tensors) {
    if (ends_with_any(t.name, {".weight_scale_inv", ".weight_scale", ".input_scale", ".activation_scale", "_activation_scale"})) continue;
    const SourceTensor* scale = nullptr;
    if (auto it = by_name.find(t.name + "_scale_inv"); it != by_name.end()) scale = it->second;
    if (auto it = by_name.find(t.name + "_scale"); !scale && it != by_name.end()) scale = it->second;
    if (!scale || (t.dtype != DType::F8_E4M3 && t.dtype != DType::F8_E5M2)) {
      folded.push_back(t);
      continue;
    }
    SourceTensor d = t;
    d.decode = [weight = t, s = *scale, block] { return dequantize_fp8(weight, s, block); };
    d.dtype = DType::F32;
    d.stored_dtype = compute;
    d.quantization = "fp8";
    d.data = {};
    folded.push_back(std::move(d));
  }
  source.tensors = std::move(folded);
  source.index();
}

}  // namespace ckpt
