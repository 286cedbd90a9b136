// LoRA adapters between PEFT and llama.cpp's GGUF LoRA format.
//
// llama.cpp applies scale = alpha ? user_scale * alpha / rank : user_scale, with one alpha per file.
// When every module's PEFT scale is lora_alpha / r, that alpha is written as is; otherwise (rsLoRA,
// alpha_pattern, rank_pattern with a different alpha/r) each module's scale is folded into lora_b
// and adapter.lora.alpha is 0, so today's llama.cpp and Ollama apply exactly PEFT's scales.
// Tensors: <gguf name>.weight.lora_a = A [r, in] (ne {in, r}); .lora_b = B [out, r] (ne {r, out}) with
// llama's Q/K rows permuted like the base weight.
#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/convert_internal.h"
#include "convert/merge_plan.h"
#include "formats/permute.h"
#include "formats/byte_sink.h"
#include "formats/output_guard.h"
#include "formats/rewrite.h"
#include "quantize/row_stream.h"

namespace ckpt {

namespace fs = std::filesystem;

namespace {

MergeInputs open_adapter_and_base(const ConvertOptions& o) {
  if (o.base.empty()) {
    throw Error(ErrorCode::InvalidArgument, o.input, Error::kNoOffset, "--base",
                "converting an adapter needs its base model (--base DIR or FILE.gguf): the architecture and head counts come from it");
  }
  MergeOptions m;
  m.base = o.base;
  m.adapters.push_back({o.input, 1.0});
  return open_merge_inputs(m);
}

std::string architecture_name(const MergeInputs& in) {
  if (!in.arch) {
    throw Error(ErrorCode::Unsupported, in.base.path, Error::kNoOffset, "architecture",
                "the base's architecture has no GGUF tensor names in ckpt's tables (supported: " + fmt::format("{}", fmt::join(supported_architectures(), ", ")) + ")");
  }
  return in.arch->gguf_arch;
}

}  // namespace

ConvertReport convert_adapter_to_gguf(const ConvertOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  MergeInputs in = open_adapter_and_base(o);
  const LoraAdapter& ad = *in.adapters.front();
  if (ad.gguf) throw Error(ErrorCode::InvalidArgument, o.input, Error::kNoOffset, "input", "is already a GGUF LoRA (use --to peft to go back)");
  const std::string arch = architecture_name(in);
  const auto [n_head, n_head_kv] = base_head_counts(in);
  // What llama.cpp cannot express is refused by name.
  for (const auto& m : ad.modules) {
    const char* why = m.magnitude ? "DoRA (lora_magnitude_vector)" : m.embedding ? "embedding LoRA" : m.bias ? "a LoRA bias (lora_B.bias)" : nullptr;
    if (why) {
      throw Error(ErrorCode::Unsupported, o.input, Error::kNoOffset, "module '" + m.module + "'",
                  std::string("has ") + why + ", which llama.cpp's LoRA format cannot express: merge it into the base instead (ckpt merge)");
    }
  }
  if (!ad.full.empty()) {
    throw Error(ErrorCode::Unsupported, o.input, Error::kNoOffset, "tensor '" + ad.full.front().name + "'",
                "modules_to_save / full tensors cannot be expressed in llama.cpp's LoRA format: merge the adapter into the base instead (ckpt merge)");
  }
  bool uniform = true;
  for (const auto& m : ad.modules) uniform = uniform && std::fabs(m.scale - ad.info.lora_alpha / static_cast<double>(m.r)) <= 1e-12 * std::fabs(m.scale);
  const double alpha = uniform ? ad.info.lora_alpha : 0.0;
  DType outtype = o.outtype.empty() ? DType::F16 : parse_outtype(o.outtype, DType::F16);
  ConvertReport report;
  report.architecture = arch;
  RewritePlan plan;
  plan.gguf_kvs = {
      {"general.architecture", {arch}, 0},
      {"general.type", {std::string("adapter")}, 0},
      {"general.name", {o.model_name.empty() ? fs::path(o.input).filename().string() : o.model_name}, 0},
      {"adapter.type", {std::string("lora")}, 0},
      {"adapter.lora.alpha", {static_cast<float>(alpha)}, 0},
      {"general.quantization_version", {uint32_t{2}}, 0},
  };
  if (!ad.info.base_model.empty()) plan.gguf_kvs.push_back({"general.base_model.0.name", {ad.info.base_model}, 0});
  std::vector<std::string> unmatched;
  for (const auto& m : ad.modules) {
    const auto mapped = map_tensor_name(*in.arch, m.module + ".weight");
    if (!mapped) {
      unmatched.push_back(m.module);
      continue;
    }
    const TensorOp op = mapped->op;
    const uint64_t heads = heads_for_rows(op, n_head, n_head_kv);
    const double fold = uniform ? 1.0 : m.scale;
    const LoraModule* mp = &m;
    const std::vector<uint64_t> a_shape = m.a->shape, b_shape = m.b->shape;
    const DType a_type = tensor_out_dtype(mapped->gguf_name, {a_shape[1], a_shape[0]}, outtype);
    const DType b_type = tensor_out_dtype(mapped->gguf_name, {b_shape[1], b_shape[0]}, outtype);
    plan.tensors.push_back({mapped->gguf_name + ".lora_a", a_type, a_shape, [mp, a_type](ByteSink& sink) {
                              write_f32_rows(tensor_values(*mp->a), mp->a->shape[1], a_type, 1, sink);
                            }});
    plan.tensors.push_back({mapped->gguf_name + ".lora_b", b_type, b_shape, [mp, b_type, op, heads, fold](ByteSink& sink) {
                              std::vector<float> b = tensor_values(*mp->b);
                              if (fold != 1.0) {
                                for (auto& x : b) x = static_cast<float>(x * fold);
                              }
                              if (heads) b = permuted_rows(b, mp->b->shape[0], op, heads, /*to_gguf=*/true);
                              write_f32_rows(b, mp->r, b_type, 1, sink);
                            }});
    report.tensors.push_back({m.module, mapped->gguf_name, std::string(dtype_name(b_type)), {m.r, m.in_features()}});  // lora_a, outermost first
  }
  if (!unmatched.empty()) {
    throw Error(ErrorCode::NotFound, o.input, Error::kNoOffset, "module '" + unmatched.front() + "'",
                fmt::format("{} module(s) have no GGUF name in the {} architecture table", unmatched.size(), arch));
  }
  if (o.dry_run) return report;
  report.outputs = write_rewrite(std::move(plan), RewriteTarget::gguf(o.output, o.split));
  for (const auto& out : report.outputs) report.bytes_out += fs::file_size(out);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

ConvertReport convert_gguf_adapter_to_peft(const ConvertOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  MergeInputs in = open_adapter_and_base(o);
  const LoraAdapter& ad = *in.adapters.front();
  if (!ad.gguf) throw Error(ErrorCode::InvalidArgument, o.input, Error::kNoOffset, "input", "--to peft reads a GGUF LoRA adapter");
  architecture_name(in);
  const auto [n_head, n_head_kv] = base_head_counts(in);
  ConvertReport report;
  report.architecture = ad.gguf_architecture;
  RewritePlan plan;
  plan.safetensors_metadata = {{"format", "pt"}};
  std::vector<std::string> targets;
  uint64_t r = 0;
  bool same_r = true;
  std::vector<std::pair<std::string, uint64_t>> ranks;  // HF module -> r
  for (const auto& m : ad.modules) {
    const auto mapped = map_tensor_name_to_hf(*in.arch, m.module + ".weight");
    if (!mapped) {
      throw Error(ErrorCode::NotFound, o.input, m.a->offset_in_file(), "tensor '" + m.a->name + "'", "has no HF name in the " + ad.gguf_architecture + " table");
    }
    const std::string module = mapped->gguf_name.substr(0, mapped->gguf_name.size() - std::string(".weight").size());
    const TensorOp op = mapped->op;
    const uint64_t heads = heads_for_rows(op, n_head, n_head_kv);
    same_r = same_r && (r == 0 || r == m.r);
    r = m.r;
    ranks.emplace_back(module, m.r);
    const std::string leaf = module.substr(module.rfind('.') + 1);
    if (std::find(targets.begin(), targets.end(), leaf) == targets.end()) targets.push_back(leaf);
    const LoraModule* mp = &m;
    // PEFT's lora_alpha = r gives scale 1: the GGUF's scale (alpha / r, or 1 with alpha 0) goes into B.
    const double fold = m.scale;
    plan.tensors.push_back({"base_model.model." + module + ".lora_A.weight", DType::F32, m.a->shape, [mp](ByteSink& sink) {
                              write_f32_rows(tensor_values(*mp->a), mp->a->shape[1], DType::F32, 1, sink);
                            }});
    plan.tensors.push_back({"base_model.model." + module + ".lora_B.weight", DType::F32, m.b->shape, [mp, op, heads, fold](ByteSink& sink) {
                              std::vector<float> b = tensor_values(*mp->b);
                              for (auto& x : b) x = static_cast<float>(x * fold);
                              if (heads) b = permuted_rows(b, mp->b->shape[0], op, heads, /*to_gguf=*/false);
                              write_f32_rows(b, mp->r, DType::F32, 1, sink);
                            }});
    report.tensors.push_back({m.module, module, "F32", m.b->shape});
  }
  nlohmann::ordered_json config = {
      {"alpha_pattern", nlohmann::ordered_json::object()}, {"base_model_name_or_path", ad.info.base_model.empty() ? nullptr : nlohmann::ordered_json(ad.info.base_model)},
      {"bias", "none"}, {"fan_in_fan_out", false}, {"inference_mode", true}, {"init_lora_weights", true},
      {"layers_pattern", nullptr}, {"layers_to_transform", nullptr}, {"lora_alpha", r}, {"lora_bias", false}, {"lora_dropout", 0.0},
      {"modules_to_save", nullptr}, {"peft_type", "LORA"}, {"r", r}, {"rank_pattern", nlohmann::ordered_json::object()}, {"revision", nullptr},
      {"target_modules", targets}, {"task_type", "CAUSAL_LM"}, {"use_dora", false}, {"use_rslora", false},
  };
  if (!same_r) {
    // Each module's scale is already in B: alpha = r per module keeps every scale at 1.
    for (const auto& [module, rank] : ranks) {
      config["rank_pattern"][module] = rank;
      config["alpha_pattern"][module] = rank;
    }
  }
  if (o.dry_run) return report;
  plan.side_files.push_back([text = config.dump(2) + "\n"](const std::string& dir) {
    write_text_file((fs::path(dir) / "adapter_config.json").string(), text);
  });
  RewriteTarget target = RewriteTarget::hf_directory(o.output, 0, o.force);
  target.weights_name = "adapter_model.safetensors";
  report.outputs = write_rewrite(std::move(plan), target);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
