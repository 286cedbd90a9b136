// The merge, planned: for every base tensor an adapter touches, where each adapter's delta lands (name
// mapping HF <-> GGUF, rows permuted for llama's Q/K, transposed for Conv1D), what replaces it, and the
// output dtype. Internal to convert.
#pragma once

#include <atomic>
#include <functional>
#include <span>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert/merge.h"
#include "formats/architecture.h"
#include "formats/hf_config.h"
#include "formats/lora_adapter.h"
#include "formats/model_source.h"

namespace ckpt {

class ByteSink;

struct DeltaTerm {
  const LoraModule* module = nullptr;
  const LoraAdapter* adapter = nullptr;
  double weight = 1;      // the user's adapter weight
  bool transpose = false;  // the base stores this weight [in, out] (HF Conv1D)
  // Base row (in [out, in] orientation) -> the adapter's row; empty: the same row.
  std::function<uint64_t(uint64_t)> adapter_row;
};

struct TensorRecipe {
  std::string name;                     // output tensor name
  std::vector<uint64_t> shape;          // output shape, PyTorch order
  const SourceTensor* base = nullptr;   // base values (the embedding for an untied lm_head)
  const SourceTensor* replacement = nullptr;  // modules_to_save / trained bias: replaces the base values
  TensorOp replacement_op = TensorOp::None;   // HF -> GGUF transform of the replacement
  uint64_t replacement_heads = 0;
  std::vector<DeltaTerm> terms;        // LoRA deltas of weights
  std::vector<DeltaTerm> bias_terms;   // lora_B.bias added to this bias tensor
  bool nf4_roundtrip = false;          // merge into dequant(NF4-dq(base)) (QLoRA's training base)
  std::string how;
  std::vector<std::string> adapter_names;
};

struct MergeInputs {
  ModelSource base;
  std::optional<JsonFile> config;      // HF bases
  const Architecture* arch = nullptr;  // when known
  bool gguf = false;
  bool bnb = false;                    // bitsandbytes 4-bit / int8 base (folded)
  std::vector<std::unique_ptr<LoraAdapter>> adapters;
  std::vector<double> weights;
};

struct MergePlan {
  std::vector<TensorRecipe> recipes;   // touched tensors, by output name
  std::vector<std::string> warnings;
  std::string untied_output;           // lm_head / output.weight added to untie a tied model
  std::string resized;                 // the embedding whose vocabulary grows
  uint64_t vocab_from = 0, vocab_to = 0;
  const TensorRecipe* find(const std::string& name) const;
};

MergeInputs open_merge_inputs(const MergeOptions& options);
// The base's attention head counts (n_head, n_head_kv) for llama's Q/K permutation; 0 when unknown.
std::pair<uint64_t, uint64_t> base_head_counts(const MergeInputs& in);
// Matches every adapter module and full tensor to a base tensor; throws one Error listing every
// mismatch (or returns them, with `collect`).
MergePlan plan_merge(const MergeInputs& in, const MergeOptions& options, std::vector<std::string>* collect = nullptr);

struct PreparedTerm;

// The LoRA / DoRA terms of one recipe, decoded once, applied row by row: row g (of the base's [out, in]
// orientation) becomes W + sum(weight * scale * B A) (DoRA: rescaled per row). Thread-safe, so the
// shared row loop can call it while the tensor streams; merged_values uses it too.
class RowMerger {
 public:
  explicit RowMerger(const TensorRecipe& recipe);
  ~RowMerger();
  // A recipe whose rows can be merged as the base streams by: plain LoRA/DoRA terms on a stored
  // (mapped) base in [out, in] layout; not replacements, transposes, biases, NF4 round trips.
  static bool streamable(const TensorRecipe& recipe);
  void apply(uint64_t row, std::span<float> values) const;  // throws Error on NaN/Inf
  double delta_norm() const;

 private:
  const TensorRecipe& recipe_;
  std::vector<PreparedTerm> terms_;
  mutable std::atomic<double> sq_{0};
};

// The merged values of one recipe in the output's layout (f32, each element W + sum of deltas rounded
// once); fills the report's delta norm and NF4 noise ratio. Throws Error on NaN/Inf.
std::vector<float> merged_values(const TensorRecipe& recipe, unsigned threads, MergedTensorReport& report);

// Every value of a source tensor as f32 (decoded, dequantized).
std::vector<float> tensor_values(const SourceTensor& t);

// `values` (rows of row_len) written as `dtype` through the shared row loop.
void write_f32_rows(const std::vector<float>& values, uint64_t row_len, DType dtype, unsigned threads, ByteSink& sink);

// Rows reordered by llama's Q/K permutation (to_gguf: HF order -> GGUF order; else the inverse).
std::vector<float> permuted_rows(const std::vector<float>& v, uint64_t rows, TensorOp op, uint64_t heads, bool to_gguf);

}  // namespace ckpt
