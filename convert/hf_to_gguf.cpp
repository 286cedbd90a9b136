// HF checkpoint directory -> GGUF: plan every tensor (name, op, dtype, dims), then stream.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <unordered_map>

#include "convert/architecture.h"
#include "convert/convert.h"
#include "convert/convert_internal.h"
#include "quantize/bnb_layout.h"
#include "formats/parallel.h"
#include "convert/tensor_convert.h"
#include "convert/tokenizer_meta.h"

namespace ckpt {

namespace fs = std::filesystem;

DType parse_outtype(const std::string& name, DType first_tensor_dtype) {
  if (name == "f32") return DType::F32;
  if (name == "f16" || name.empty()) return DType::F16;  // convert_hf_to_gguf.py's default
  if (name == "bf16") return DType::BF16;
  if (name == "q8_0") return DType::Q8_0;
  // convert_hf_to_gguf.py: F16 if the first tensor is F16, else BF16 (config torch_dtype is ignored).
  if (name == "auto") return first_tensor_dtype == DType::F16 ? DType::F16 : DType::BF16;
  throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--outtype", "'" + name + "' is not one of f32, f16, bf16, q8_0, auto");
}

uint32_t llama_file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q8_0: return 7;
    case DType::BF16: return 32;
    default: return 1024;  // GUESSED
  }
}

// llama.cpp keeps these in F32 whatever the outtype: 1-D tensors (norms, biases), *_norm.weight,
// and anything that is not a .weight.
DType tensor_out_dtype(const std::string& gguf_name, const std::vector<uint64_t>& ne, DType outtype) {
  if (ne.size() <= 1 || gguf_name.ends_with("_norm.weight") || !gguf_name.ends_with(".weight")) return DType::F32;
  if (outtype == DType::Q8_0 && ne[0] % 32 != 0) return DType::F16;  // QuantError fallback in convert_hf_to_gguf
  return outtype;
}

HfModel open_hf_model(const std::string& dir) {
  const fs::path config = fs::path(dir) / "config.json";
  std::error_code ec;
  if (fs::exists(fs::path(dir) / "adapter_config.json", ec)) {
    throw Error(ErrorCode::Unsupported, dir, Error::kNoOffset, "adapter_config.json",
                "this is a PEFT adapter, not a model: merge it into its base model first");
  }
  if (!fs::is_directory(dir, ec) || !fs::exists(config)) {
    throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, "config.json",
                "not an HF checkpoint directory: config.json is missing");
  }
  ModelSource source = open_model_source(dir);
  fold_bnb_weights(source);
  return {std::move(source), JsonFile::read(config.string())};
}

namespace {

// Before anything is written: every tensor config.json implies is present with the shape it implies,
// and nothing else (a 5th layer in a 4-layer config) slips through. Without this, 15 kinds of broken
// checkpoint became GGUFs that llama.cpp and `ckpt run` then refused.
void check_tensors_against_config(const Architecture& arch, const ArchHparams& h, const std::vector<TensorJob>& jobs,
                                  const JsonFile& config) {
  if (!arch.expected_tensors) return;
  std::unordered_map<std::string, const ExpectedTensor*> expected;
  const auto table = arch.expected_tensors(h);
  for (const auto& e : table) expected.emplace(e.name, &e);
  std::unordered_map<std::string, const TensorJob*> present;
  for (const auto& job : jobs) {
    present.emplace(job.out_name, &job);
    const SourceTensor& src = *job.source;
    const std::string file = src.file ? src.file->path() : config.path();
    const auto it = expected.find(job.out_name);
    if (it == expected.end()) {
      throw Error(ErrorCode::BadShape, file, src.offset_in_file(), "tensor '" + src.name + "'",
                  "is not part of a model with the hyper-parameters in " + config.path() + " (" +
                      std::to_string(h.n_layer) + " layers)");
    }
    if (job.ne != it->second->ne) {
      const std::vector<uint64_t> want(it->second->ne.rbegin(), it->second->ne.rend());
      const std::vector<uint64_t> got(job.ne.rbegin(), job.ne.rend());
      throw Error(ErrorCode::BadShape, file, src.offset_in_file(), "tensor '" + src.name + "'",
                  "has shape " + shape_to_string(got) + " but config.json implies " + shape_to_string(want) +
                      (job.op == TensorOp::Transpose ? " (after transposing)" : ""));
    }
  }
  for (const auto& e : table) {
    if (e.required && !present.count(e.name)) {
      throw Error(ErrorCode::NotFound, config.path(), Error::kNoOffset, e.name,
                  "the checkpoint has no tensor for it, but config.json implies it");
    }
  }
}

}  // namespace

GgufConversion plan_hf_to_gguf(const HfModel& model, const ConvertOptions& options) {
  const JsonFile& config = model.config;
  const ModelSource& ckpt = model.source;
  const auto archs = config.json().find("architectures");
  if (archs == config.json().end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    config.fail("architectures", "missing: cannot tell which model this is");
  }
  const std::string hf_arch = (*archs)[0].get<std::string>();
  const Architecture* arch = find_architecture(hf_arch);
  if (!arch) {
    std::string list;
    for (const auto& a : supported_architectures()) list += (list.empty() ? "" : ", ") + a;
    config.fail("architectures", "'" + hf_arch + "' is not supported (supported: " + list + ")", ErrorCode::Unsupported);
  }
  GgufConversion plan;
  plan.architecture = arch->gguf_arch;
  auto& kvs = plan.kvs;
  kvs.push_back({"general.architecture", {arch->gguf_arch}, 0});
  kvs.push_back({"general.type", {std::string("model")}, 0});
  const std::string name = !options.model_name.empty() ? options.model_name : fs::path(fs::absolute(ckpt.dir)).filename().string();
  kvs.push_back({"general.name", {name}, 0});
  const ArchHparams h = arch->write_hparams(config, kvs);
  const DType first = ckpt.tensors.empty() ? DType::F32 : ckpt.tensors.front().decode ? ckpt.tensors.front().stored_dtype : ckpt.tensors.front().dtype;
  const DType outtype = parse_outtype(options.outtype, first);
  kvs.push_back({"general.file_type", {llama_file_type(outtype)}, 0});

  std::vector<std::string> unknown;
  const SourceTensor* embedding = nullptr;
  bool has_output = false;
  for (const auto& src : ckpt.tensors) {
    if (src.name == "quantization_config") continue;
    if (std::any_of(arch->skip_suffixes.begin(), arch->skip_suffixes.end(), [&](const auto& s) { return src.name.ends_with(s); })) {
      continue;
    }
    const auto mapped = map_tensor_name(*arch, src.name);
    if (!mapped) {
      unknown.push_back(src.name);
      continue;
    }
    TensorJob job;
    job.out_name = mapped->gguf_name;
    job.source = &src;
    job.op = mapped->op;
    job.permute_heads = job.op == TensorOp::PermuteQ ? h.n_head : job.op == TensorOp::PermuteK ? h.n_head_kv : 0;
    job.ne = gguf_dims_after(src, job.op);
    job.out_dtype = tensor_out_dtype(job.out_name, job.ne, outtype);
    if (job.out_name == "token_embd.weight") embedding = &src;
    if (job.out_name == "output.weight") has_output = true;
    plan.jobs.push_back(std::move(job));
  }
  if (!unknown.empty()) {
    std::string list;
    for (size_t i = 0; i < unknown.size() && i < 20; ++i) list += (i ? ", " : "") + unknown[i];
    if (unknown.size() > 20) list += ", ... (" + std::to_string(unknown.size()) + " in all)";
    throw Error(ErrorCode::Unsupported, ckpt.weight_files.empty() ? ckpt.dir : ckpt.weight_files.front(), Error::kNoOffset,
                "tensors", "cannot map to " + arch->gguf_arch + ": " + list);
  }
  if (arch->duplicate_embedding_as_output && !has_output && embedding) {
    TensorJob job;
    job.out_name = "output.weight";
    job.source = embedding;
    job.ne = gguf_dims_after(*embedding, TensorOp::None);
    job.out_dtype = tensor_out_dtype(job.out_name, job.ne, outtype);
    plan.jobs.push_back(std::move(job));
  }
  check_tensors_against_config(*arch, h, plan.jobs, config);
  const auto tokenizer = read_hf_tokenizer(ckpt.dir, config.path(), h.n_vocab);
  if (!tokenizer) {
    throw Error(ErrorCode::NotFound, ckpt.dir, Error::kNoOffset, "tokenizer",
                "no tokenizer.json or tokenizer.model: llama.cpp cannot load a model without a vocabulary");
  }
  tokenizer->append_kvs(kvs);
  kvs.push_back({"general.quantization_version", {uint32_t{2}}, 0});
  kvs.push_back({"general.alignment", {kGgufDefaultAlignment}, 0});
  return plan;
}

ConvertReport convert_hf_to_gguf(const ConvertOptions& options) {
  const HfModel model = open_hf_model(options.input);
  const GgufConversion plan = plan_hf_to_gguf(model, options);
  return write_gguf_conversion(plan, options);
}

}  // namespace ckpt
