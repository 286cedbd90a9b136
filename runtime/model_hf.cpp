// An HF checkpoint directory read in place: tensors are viewed as stored (bf16/f16/f32 rows are what
// the kernels read), Q/K are NOT permuted (the forward pass rotates halves instead, which is what
// the permutation emulates), GPT-2's Conv1D weights are transposed into owned f32 buffers, and
// bitsandbytes weights are dequantized once at load.
#include <filesystem>
#include <unordered_map>

#include "formats/architecture.h"
#include "formats/gguf_view.h"
#include "formats/permute.h"
#include "formats/tokenizer_meta.h"
#include "formats/error.h"
#include "quantize/bnb_layout.h"
#include "quantize/quantize.h"
#include "runtime/model_assemble.h"
#include "runtime/model_loaders.h"

namespace ckpt::runtime {
Model load_hf_model(const std::string& dir) {
  auto ckpt = std::make_shared<HfModel>(open_hf_model(dir));
  fold_bnb_weights(ckpt->source);
  // The view's file type is not used here (nothing is written); the weights run as stored.
  auto view = std::make_shared<GgufView>(plan_gguf_view(ckpt->source, ckpt->config, "", 0));
  const ckpt::TensorLookup all_tensors = ckpt->source.lookup();
  Model model;
  model.path = dir;
  model.keep_alive.push_back(ckpt);
  model.keep_alive.push_back(view);
  model.hp = hparams_from_kvs(view->kvs, (std::filesystem::path(dir) / "config.json").string());
  GgufFile meta;
  meta.kvs = view->kvs;
  if (auto vocab = tokenizer_from_gguf(meta)) model.vocab = std::move(*vocab);

  std::unordered_map<std::string, const GgufViewTensor*> jobs;
  bool permuted = false;
  for (const auto& t : view->tensors) {
    jobs.emplace(t.name, &t);
    permuted |= t.op == TensorOp::PermuteQ;
  }
  if (permuted) {
    model.hp.rope_style = RopeStyle::Halves;
    model.hf_qk_rows = true;
  }

  assemble_model(model, [&](const std::string& name) -> std::optional<FoundTensor> {
    const auto it = jobs.find(name);
    if (it == jobs.end()) return std::nullopt;
    const GgufViewTensor& job = *it->second;
    const SourceTensor& src = *job.source;
    FoundTensor t;
    t.ne = job.ne;
    t.file = src.file ? src.file->path() : dir;
    t.offset = src.file && !src.data.empty() ? static_cast<uint64_t>(src.data.data() - src.file->bytes().data()) : 0;
    if (src.quantization == "bnb4" && job.op == TensorOp::None && src.shape.size() == 2) {
      // Kept as 4-bit codes when every block lies inside one row.
      if (auto q = read_bnb4_weight(all_tensors, src.name); q && q->shape[1] % q->blocksize == 0 && q->shape[1] % 2 == 0 && q->code.size() == 16) {
        t.weight = weight_view(name, DType::U8, t.ne, q->packed.data());
        t.weight.bnb4 = true;
        t.weight.bnb4_fp4 = q->type == Bnb4Type::FP4;
        t.weight.bnb4_block = static_cast<uint32_t>(q->blocksize);
        t.weight.row_bytes = q->shape[1] / 2;
        model.owned_f32.push_back(std::move(q->absmax));
        t.weight.bnb4_absmax = model.owned_f32.back();
        model.owned_f32.push_back(std::move(q->code));
        t.weight.bnb4_code = model.owned_f32.back();
        return t;
      }
    }
    if (job.op == TensorOp::Transpose || job.op == TensorOp::AddOne || job.op == TensorOp::NeoxQkv || src.decode) {
      std::vector<float> values = decode_tensor_values(src, 1);
      if (job.op == TensorOp::AddOne) apply_add_one(values, src.decode ? src.stored_dtype : src.dtype, false);
      if (job.op == TensorOp::NeoxQkv) {  // the forward pass splits [q; k; v] as GGUF holds them
        const uint64_t rows = src.shape.empty() ? 1 : src.shape[0], cols = rows ? values.size() / rows : 0;
        if (!rows_split(job.op, rows, job.permute_heads)) {
          throw Error(ErrorCode::BadShape, t.file, t.offset, src.name, "rows do not split into three blocks of heads");
        }
        std::vector<float> regrouped(values.size());
        for (uint64_t r = 0; r < rows; ++r) {
          const uint64_t from = hf_row_for(job.op, r, rows, job.permute_heads);
          std::copy_n(values.begin() + static_cast<ptrdiff_t>(from * cols), cols, regrouped.begin() + static_cast<ptrdiff_t>(r * cols));
        }
        values.swap(regrouped);
      }
      if (job.op == TensorOp::Transpose && src.shape.size() == 2) {
        const uint64_t r = src.shape[0], c = src.shape[1];
        std::vector<float> transposed(values.size());
        for (uint64_t i = 0; i < r; ++i) {
          for (uint64_t j = 0; j < c; ++j) transposed[j * r + i] = values[i * c + j];
        }
        values.swap(transposed);
      }
      model.owned_f32.push_back(std::move(values));
      t.weight = weight_view(name, DType::F32, t.ne, reinterpret_cast<const std::byte*>(model.owned_f32.back().data()));
    } else {
      t.weight = weight_view(name, src.dtype, t.ne, src.data.data());
    }
    return t;
  });
  return model;
}

}  // namespace ckpt::runtime
