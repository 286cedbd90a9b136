#include "quantize/bnb_layout.h"

#include <cstring>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/json_header.h"
#include "quantize/quantize.h"

namespace ckpt {

namespace {

const char* torch_dtype_name(DType t) {
  switch (t) {
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: return "float32";
  }
}

std::optional<DType> dtype_from_torch_name(const std::string& s) {
  if (s == "float16") return DType::F16;
  if (s == "bfloat16") return DType::BF16;
  if (s == "float32") return DType::F32;
  return std::nullopt;
}

std::vector<float> floats(const TensorLookup& l, const TensorInfo& t) {
  if (t.dtype != DType::F32) throw Error(ErrorCode::BadDType, l.file, t.offset_in_file, t.name, "expected F32");
  std::vector<float> out(t.n_bytes / 4);
  const auto d = l.data(t);
  if (!d.empty()) std::memcpy(out.data(), d.data(), d.size());
  return out;
}

// Python's json.dumps separators.
std::string py_json(const nlohmann::ordered_json& j) {
  std::string s = j.dump();
  std::string out;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    out += c;
    if (c == '"' && (i == 0 || s[i - 1] != '\\')) in_string = !in_string;
    if (!in_string && (c == ',' || c == ':')) out += ' ';
  }
  return out;
}

}  // namespace

bool is_bnb_companion(const std::string& n) {
  return n.ends_with(".absmax") || n.ends_with(".quant_map") || n.ends_with(".nested_absmax") ||
         n.ends_with(".nested_quant_map") || n.find(".quant_state.bitsandbytes__") != std::string::npos ||
         n.ends_with(".SCB") || n.ends_with(".weight_format");
}

std::string bnb4_quant_state_json(const Bnb4Quantized& q, const std::vector<uint64_t>& shape, DType original_dtype) {
  nlohmann::ordered_json j;
  j["quant_type"] = q.type == Bnb4Type::NF4 ? "nf4" : "fp4";
  j["blocksize"] = q.blocksize;
  j["dtype"] = torch_dtype_name(original_dtype);
  j["shape"] = shape;
  if (q.nested) {
    j["nested_blocksize"] = q.nested_blocksize;
    j["nested_dtype"] = "float32";
    j["nested_offset"] = static_cast<double>(q.offset);  // Python stores offset.item(): the f32 value as a double
  }
  return py_json(j);
}

std::string bnb4_quantization_config_json(Bnb4Type type, bool double_quant, DType compute_dtype) {
  nlohmann::ordered_json j = {
      {"_load_in_4bit", true},
      {"_load_in_8bit", false},
      {"bnb_4bit_compute_dtype", torch_dtype_name(compute_dtype)},
      {"bnb_4bit_quant_storage", "uint8"},
      {"bnb_4bit_quant_type", type == Bnb4Type::NF4 ? "nf4" : "fp4"},
      {"bnb_4bit_use_double_quant", double_quant},
      {"llm_int8_enable_fp32_cpu_offload", false},
      {"llm_int8_has_fp16_weight", false},
      {"llm_int8_skip_modules", nullptr},
      {"llm_int8_threshold", 6.0},
      {"load_in_4bit", true},
      {"load_in_8bit", false},
      {"quant_method", "bitsandbytes"},
  };
  return j.dump(2);
}

namespace {

struct Bnb4State {
  const TensorInfo* weight;
  const TensorInfo* state;
  nlohmann::ordered_json json;
  std::vector<uint64_t> shape;
  DType dtype;
};

std::optional<Bnb4State> find_bnb4_values(const TensorLookup& l, const std::string& name);

// The quant_state JSON interpreted; a value of the wrong type names the file and the key.
std::optional<Bnb4State> find_bnb4(const TensorLookup& l, const std::string& name) {
  return with_json_errors(l.file, name + ".quant_state", [&] { return find_bnb4_values(l, name); });
}

std::optional<Bnb4State> find_bnb4_values(const TensorLookup& l, const std::string& name) {
  const TensorInfo* state = l.find(name + ".quant_state.bitsandbytes__nf4");
  const char* suffix = "nf4";
  if (!state) {
    state = l.find(name + ".quant_state.bitsandbytes__fp4");
    suffix = "fp4";
  }
  if (!state) return std::nullopt;
  const TensorInfo* weight = l.find(name);
  if (!weight) throw Error(ErrorCode::NotFound, l.file, state->offset_in_file, name, "quant_state without its weight");
  const auto bytes = l.data(*state);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  Bnb4State s{weight, state, parse_json_strictly(text, l.file, state->offset_in_file, state->name), {}, DType::F32};
  auto fail = [&](const std::string& what) -> void {
    throw Error(ErrorCode::BadJson, l.file, state->offset_in_file, state->name, what);
  };
  if (!s.json.is_object()) fail("quant_state is not a JSON object");
  if (s.json.value("quant_type", "") != suffix) fail("quant_type disagrees with the key suffix __" + std::string(suffix));
  if (!s.json.contains("shape") || !s.json["shape"].is_array()) fail("missing shape");
  for (const auto& d : s.json["shape"]) {
    if (!d.is_number_unsigned()) fail("shape entries must be non-negative integers");
    s.shape.push_back(d.get<uint64_t>());
  }
  const auto dtype = dtype_from_torch_name(s.json.value("dtype", ""));
  if (!dtype) fail("dtype must be float16, bfloat16 or float32");
  s.dtype = *dtype;
  return s;
}

}  // namespace

std::optional<std::pair<std::vector<uint64_t>, DType>> bnb_weight_shape(const TensorLookup& l, const std::string& name) {
  if (const auto s = find_bnb4(l, name)) return std::make_pair(s->shape, s->dtype);
  if (const auto* scb = l.find(name.substr(0, name.size() - std::string("weight").size()) + "SCB"); scb && name.ends_with("weight")) {
    const auto* w = l.find(name);
    if (w && w->dtype == DType::I8) return std::make_pair(w->shape, DType::F16);
  }
  return std::nullopt;
}

std::optional<Bnb4Weight> read_bnb4_weight_values(const TensorLookup& l, const std::string& name);

std::optional<Bnb4Weight> read_bnb4_weight(const TensorLookup& l, const std::string& name) {
  return with_json_errors(l.file, name + ".quant_state", [&] { return read_bnb4_weight_values(l, name); });
}

std::optional<Bnb4Weight> read_bnb4_weight_values(const TensorLookup& l, const std::string& name) {
  const auto s = find_bnb4(l, name);
  if (!s) return std::nullopt;
  auto fail = [&](const TensorInfo* at, const std::string& field, const std::string& what) -> void {
    throw Error(ErrorCode::BadShape, l.file, at ? at->offset_in_file : s->state->offset_in_file, field, what);
  };
  const auto numel = shape_numel(s->shape);
  if (!numel) fail(nullptr, s->state->name, "shape overflows");
  const uint64_t blocksize = s->json.value("blocksize", uint64_t{0});
  if (!is_valid_bnb_blocksize(blocksize)) fail(nullptr, s->state->name, "blocksize must be a power of two in 32..4096");
  const uint64_t n_blocks = (*numel + blocksize - 1) / blocksize;
  // Packed data may be stored as a wider quant_storage dtype: reinterpret the bytes.
  if (s->weight->n_bytes != (*numel + 1) / 2) fail(s->weight, name, "packed size does not match shape");
  const auto* qmap = l.find(name + ".quant_map");
  const auto* absmax = l.find(name + ".absmax");
  if (!qmap || qmap->n_bytes != 64) fail(qmap, name + ".quant_map", "missing or not 16 floats");
  if (!absmax) fail(nullptr, name + ".absmax", "missing");
  Bnb4Weight out;
  out.shape = s->shape;
  out.original_dtype = s->dtype;
  out.type = s->state->name.ends_with("__fp4") ? Bnb4Type::FP4 : Bnb4Type::NF4;
  out.blocksize = blocksize;
  out.code = floats(l, *qmap);
  if (s->json.contains("nested_blocksize")) {
    const auto* nested = l.find(name + ".nested_absmax");
    const auto* nmap = l.find(name + ".nested_quant_map");
    const uint64_t nbs = s->json.value("nested_blocksize", uint64_t{0});
    if (!nested || !nmap || nmap->n_bytes != 1024 || nbs == 0) fail(nested, name + ".nested_absmax", "double-quant state incomplete");
    if (absmax->dtype != DType::U8 || absmax->n_bytes != n_blocks) fail(absmax, absmax->name, "expected U8 codes, one per block");
    const auto nested_vals = floats(l, *nested);
    if (nested_vals.size() != (n_blocks + nbs - 1) / nbs) fail(nested, nested->name, "wrong number of nested scales");
    const auto codes = l.data(*absmax);
    out.absmax = dequantize_nested_absmax({reinterpret_cast<const uint8_t*>(codes.data()), codes.size()}, nested_vals,
                                          floats(l, *nmap), static_cast<float>(s->json.value("nested_offset", 0.0)), nbs);
  } else {
    out.absmax = floats(l, *absmax);
    if (out.absmax.size() != n_blocks) fail(absmax, absmax->name, "expected one absmax per block");
  }
  out.packed = l.data(*s->weight);
  return out;
}

std::optional<DequantizedWeight> dequantize_bnb_weight(const TensorLookup& l, const std::string& name) {
  if (const auto w = read_bnb4_weight(l, name)) {
    DequantizedWeight out{w->shape, w->original_dtype, std::vector<float>(*shape_numel(w->shape))};
    dequantize_bnb4({reinterpret_cast<const uint8_t*>(w->packed.data()), w->packed.size()}, w->absmax, w->code, w->blocksize,
                    out.values);
    return out;
  }
  // LLM.int8: weight I8 [out, in], SCB F32 [out].
  if (!name.ends_with("weight")) return std::nullopt;
  const auto* scb = l.find(name.substr(0, name.size() - 6) + "SCB");
  if (!scb) return std::nullopt;
  const auto* w = l.find(name);
  if (!w || w->dtype != DType::I8 || w->shape.size() != 2) {
    throw Error(ErrorCode::BadDType, l.file, scb->offset_in_file, name, "SCB present but the weight is not I8 [out, in]");
  }
  const auto row_scale = floats(l, *scb);
  if (row_scale.size() != w->shape[0]) throw Error(ErrorCode::BadShape, l.file, scb->offset_in_file, scb->name, "one scale per row expected");
  DequantizedWeight out{w->shape, DType::F16, std::vector<float>(w->n_bytes)};
  const auto q = l.data(*w);
  const uint64_t cols = w->shape[1];
  for (uint64_t i = 0; i < out.values.size(); ++i) {
    out.values[i] = static_cast<float>(static_cast<int8_t>(q[i])) * row_scale[i / cols] * 7.874015718698502e-3f;  // 1/127 as bnb
  }
  return out;
}

}  // namespace ckpt

namespace ckpt {

void fold_bnb_weights(ModelSource& source) {
  bool any = false;
  for (const auto& t : source.all_tensors) any |= is_bnb_companion(t.name);
  if (!any) return;
  const TensorLookup lookup = source.lookup();
  // Companions are dropped only when their weight is a recognized bnb family; a stray ".absmax"
  // stays a tensor, so a converter reports it as unmapped instead of losing it silently.
  std::unordered_set<std::string> consumed;
  for (const auto& t : source.all_tensors) {
    if (is_bnb_companion(t.name) || !bnb_weight_shape(lookup, t.name)) continue;
    const std::string stem = t.name.substr(0, t.name.size() - std::string("weight").size());
    for (const char* suffix : {".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
                               ".quant_state.bitsandbytes__nf4", ".quant_state.bitsandbytes__fp4"}) {
      consumed.insert(t.name + suffix);
    }
    consumed.insert(stem + "SCB");
    consumed.insert(stem + "weight_format");
  }
  std::vector<SourceTensor> folded;
  for (const auto& t : source.all_tensors) {
    if (consumed.count(t.name)) continue;
    const auto shape = is_bnb_companion(t.name) ? std::nullopt : bnb_weight_shape(lookup, t.name);
    if (!shape) {
      folded.push_back(t);
      continue;
    }
    SourceTensor s{t.name, DType::F32, shape->first, {}, t.file, {}, shape->second, ""};
    s.quantization = t.dtype == DType::I8 ? "bnb-int8" : "bnb4";
    s.decode = [lookup, name = t.name]() { return std::move(dequantize_bnb_weight(lookup, name)->values); };
    folded.push_back(std::move(s));
  }
  source.tensors = std::move(folded);
  source.index();
}

}  // namespace ckpt
