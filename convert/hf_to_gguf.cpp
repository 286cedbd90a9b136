// HF checkpoint directory -> GGUF: plan every tensor (name, op, dtype, dims), then stream.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "formats/ckpt_archive_source.h"
#include "formats/rewrite.h"
#include "formats/architecture.h"
#include "convert/convert.h"
#include "convert/convert_internal.h"
#include "quantize/bnb_layout.h"
#include "formats/parallel.h"
#include "convert/tensor_convert.h"
#include "formats/tokenizer_meta.h"

namespace ckpt {

namespace fs = std::filesystem;

DType parse_outtype(const std::string& name, DType first_tensor_dtype) {
  if (name == "f32") return DType::F32;
  if (name == "f16") return DType::F16;
  if (name == "bf16") return DType::BF16;
  if (name == "q8_0") return DType::Q8_0;
  // convert_hf_to_gguf.py's default: the first matrix decides — BF16 stays BF16, F16 stays F16, anything
  // else (F32) becomes F16. config.json's torch_dtype is ignored (finetunes misstate it).
  if (name == "auto" || name.empty()) return first_tensor_dtype == DType::BF16 ? DType::BF16 : DType::F16;
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
  // Learned position and token-type tables are looked up, not multiplied: convert_hf_to_gguf keeps them F32.
  if (gguf_name == "position_embd.weight" || gguf_name == "token_types.weight") return DType::F32;
  if (outtype == DType::Q8_0 && ne[0] % 32 != 0) return DType::F16;  // QuantError fallback in convert_hf_to_gguf
  return outtype;
}

GgufConversion plan_hf_to_gguf(const ModelSource& source, const JsonFile& config, const ConvertOptions& options) {
  DType first = DType::F32;
  for (const auto& t : source.tensors) {
    if (t.shape.size() < 2) continue;
    first = t.decode ? t.stored_dtype : t.dtype;
    break;
  }
  const DType outtype = parse_outtype(options.outtype, first);
  GgufView view = plan_gguf_view(source, config, options.model_name, llama_file_type(outtype));
  GgufConversion plan;
  plan.outtype = outtype;
  plan.architecture = view.architecture;
  plan.kvs = std::move(view.kvs);
  plan.generated = std::move(view.generated);  // jobs point into these
  for (auto& t : view.tensors) {
    TensorJob job;
    job.out_name = std::move(t.name);
    job.ne = std::move(t.ne);
    job.source = t.source;
    job.op = t.op;
    job.permute_heads = t.permute_heads;
    job.out_dtype = tensor_out_dtype(job.out_name, job.ne, outtype);
    plan.jobs.push_back(std::move(job));
  }
  return plan;
}

ConvertReport convert_hf_to_gguf(const ConvertOptions& options) {
  HfModel model = open_hf_model(options.input);
  fold_bnb_weights(model.source);
  const GgufConversion plan = plan_hf_to_gguf(model.source, model.config, options);
  std::string provenance;
  if (is_ckpt_archive_output(options.output) && !options.dry_run) {
    provenance = ckpt_provenance(model.source, options.input, "convert", {{"outtype", options.outtype.empty() ? "auto" : options.outtype}});
  }
  return write_gguf_conversion(plan, options, std::move(provenance));
}

}  // namespace ckpt
