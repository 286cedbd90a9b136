// Matching adapters to a base: names (HF <-> GGUF through the architecture tables), layouts (llama's
// Q/K row permutation, GPT-2's Conv1D transpose) and shapes, every mismatch collected into one error.
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "convert/merge_plan.h"
#include "formats/ckpt_archive_adapters.h"
#include "formats/permute.h"
#include "quantize/bnb_layout.h"

namespace ckpt {

namespace {


// Where a base tensor is and how its rows relate to HF's.
struct Placement {
  const SourceTensor* tensor = nullptr;
  std::string name;
  TensorOp op = TensorOp::None;  // the HF -> base transform (GGUF bases); Transpose on an HF base: Conv1D
  uint64_t heads = 0;
};

class Resolver {
 public:
  explicit Resolver(const MergeInputs& in) : in_(in) { std::tie(n_head_, n_head_kv_) = base_head_counts(in); }

  // The base tensor that an adapter name (HF for PEFT, GGUF for GGUF adapters) refers to.
  std::optional<Placement> place(const std::string& adapter_name, bool adapter_is_gguf) const {
    Placement p;
    if (in_.gguf == adapter_is_gguf) {
      p.name = adapter_name;
      if (!in_.gguf && in_.arch) {  // HF base: Conv1D weights are stored [in, out]
        if (const auto m = map_tensor_name(*in_.arch, adapter_name); m && m->op == TensorOp::Transpose) p.op = TensorOp::Transpose;
      }
    } else if (!in_.arch) {
      return std::nullopt;
    } else if (in_.gguf) {  // PEFT names into a GGUF base
      const auto m = map_tensor_name(*in_.arch, adapter_name);
      if (!m) return std::nullopt;
      p.name = m->gguf_name;
      p.op = m->op == TensorOp::Transpose ? TensorOp::None : m->op;  // GGUF already holds [out, in]
    } else {  // GGUF names into an HF base
      const auto m = map_tensor_name_to_hf(*in_.arch, adapter_name);
      if (!m) return std::nullopt;
      p.name = m->gguf_name;
      p.op = m->op;
    }
    p.heads = heads_for_rows(p.op, n_head_, n_head_kv_);
    p.tensor = in_.base.find(p.name);
    return p;
  }

  // Base row -> adapter row for a term placed at `p` (rows = the tensor's output size).
  std::function<uint64_t(uint64_t)> row_map(const Placement& p, bool adapter_is_gguf, uint64_t rows) const {
    if (!reorders_rows(p.op)) return {};
    const uint64_t heads = p.heads;
    const TensorOp op = p.op;
    if (in_.gguf && !adapter_is_gguf) return [rows, heads, op](uint64_t g) { return hf_row_for(op, g, rows, heads); };
    if (!in_.gguf && adapter_is_gguf) return [rows, heads, op](uint64_t o) { return gguf_row_for(op, o, rows, heads); };
    return {};
  }

  // The name of the output projection / input embedding in the base's naming.
  std::string base_name_for_gguf(const std::string& gguf_name) const {
    if (in_.gguf || !in_.arch) return gguf_name;
    for (const auto& t : in_.base.tensors) {
      if (const auto m = map_tensor_name(*in_.arch, t.name); m && m->gguf_name == gguf_name) return t.name;
    }
    return "";
  }

 private:
  const MergeInputs& in_;
  uint64_t n_head_ = 0, n_head_kv_ = 0;
};

bool is_bias_name(const std::string& name) { return name.ends_with(".bias"); }

}  // namespace

std::pair<uint64_t, uint64_t> base_head_counts(const MergeInputs& in) {
  uint64_t n_head = 0, n_head_kv = 0;
  if (in.gguf) {
    const GgufFile& main = in.base.gguf->main();
    const std::string arch = main.architecture();
    n_head = main.u64_or(arch + ".attention.head_count", 0);
    n_head_kv = main.u64_or(arch + ".attention.head_count_kv", n_head);
  } else if (in.config) {
    n_head = in.config->opt_u64("num_attention_heads").value_or(in.config->opt_u64("n_head").value_or(0));
    n_head_kv = in.config->opt_u64("num_key_value_heads").value_or(n_head);
  }
  return {n_head, n_head_kv};
}

const TensorRecipe* MergePlan::find(const std::string& name) const {
  for (const auto& r : recipes) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

MergeInputs open_merge_inputs(const MergeOptions& o) {
  MergeInputs in;
  if (o.adapters.empty()) throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "ADAPTER", "name at least one adapter to merge");
  in.base = open_model_source(o.base);
  if (in.base.adapter) {
    throw Error(ErrorCode::InvalidArgument, o.base, Error::kNoOffset, "BASE",
                "is a LoRA adapter; the first argument is the base model the adapters merge into");
  }
  if (in.base.kind == SourceKind::Llama2c) {
    throw Error(ErrorCode::Unsupported, o.base, Error::kNoOffset, "BASE", "llama2.c checkpoints have no module names an adapter could target; convert it to GGUF first");
  }
  in.gguf = in.base.kind == SourceKind::Gguf;
  if (in.gguf) {
    in.arch = find_architecture_by_gguf_name(in.base.gguf->main().architecture());
  } else {
    in.bnb = std::any_of(in.base.all_tensors.begin(), in.base.all_tensors.end(), [](const auto& t) { return is_bnb_companion(t.name); });
    fold_bnb_weights(in.base);
    if (in.base.config_path) {
      in.config = JsonFile::read(*in.base.config_path);
      const auto it = in.config->json().find("architectures");
      if (it != in.config->json().end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
        in.arch = find_architecture((*it)[0].get<std::string>());
      }
    }
  }
  for (const auto& spec : o.adapters) {
    if (!std::isfinite(spec.weight)) {
      throw Error(ErrorCode::InvalidArgument, spec.path, Error::kNoOffset, "adapter weight", "must be a finite number");
    }
    in.adapters.push_back(open_lora_adapter_for_base(o.base, spec.path));
    in.weights.push_back(spec.weight);
  }
  return in;
}

MergePlan plan_merge(const MergeInputs& in, const MergeOptions& o, std::vector<std::string>* collect) {
  MergePlan plan;
  std::vector<std::string> problems;
  Resolver resolve(in);
  std::map<std::string, TensorRecipe> recipes;
  auto recipe_for = [&](const SourceTensor& base, const std::string& name) -> TensorRecipe& {
    auto& r = recipes[name];
    if (!r.base) {
      r.name = name;
      r.base = &base;
      r.shape = base.shape;
    }
    return r;
  };
  const bool tied_gguf = in.gguf && !in.base.find("output.weight");
  const bool tied_hf = !in.gguf && in.config && in.config->boolean("tie_word_embeddings", true) && in.arch &&
                       resolve.base_name_for_gguf("output.weight").empty();
  const std::string embed_name = resolve.base_name_for_gguf("token_embd.weight");
  const std::string output_name = in.gguf ? "output.weight" : "lm_head.weight";
  // Places an adapter tensor; an lm_head / output delta on a tied model lands on a new output tensor
  // whose base values are the embedding's (`untie` set).
  auto place_untying = [&](const std::string& name, bool adapter_is_gguf, bool& untie) {
    auto p = resolve.place(name, adapter_is_gguf);
    if (p && !p->tensor && (p->name == output_name || p->name == "output.weight") && (tied_gguf || tied_hf) && !embed_name.empty()) {
      p->tensor = in.base.find(embed_name);
      untie = p->tensor != nullptr;
      p->name = output_name;
    }
    return p;
  };

  for (size_t ai = 0; ai < in.adapters.size(); ++ai) {
    const LoraAdapter& ad = *in.adapters[ai];
    const double w = in.weights[ai];
    const std::string who = ad.source.path;
    if (ad.gguf && in.arch && ad.gguf_architecture != in.arch->gguf_arch) {
      problems.push_back(fmt::format("{}: a '{}' adapter cannot merge into a '{}' base", who, ad.gguf_architecture, in.arch->gguf_arch));
      continue;
    }
    for (const auto& m : ad.modules) {
      if (m.magnitude && (w != 1.0 || in.adapters.size() > 1)) {
        problems.push_back(fmt::format("{}: DoRA module '{}' can only merge alone with weight 1 (its magnitude is absolute)", who, m.module));
        continue;
      }
      bool untie = false;
      auto p = place_untying(m.module + ".weight", ad.gguf, untie);
      if (!p || !p->tensor) {
        problems.push_back(fmt::format("{}: module '{}' has no tensor '{}' in the base", who, m.module, p ? p->name : m.module + ".weight"));
        continue;
      }
      const auto& bs = p->tensor->shape;
      const bool conv1d = p->op == TensorOp::Transpose;
      if (!in.gguf && !ad.gguf && conv1d != m.fan_in_fan_out && !m.embedding) {
        plan.warnings.push_back(fmt::format("{}: fan_in_fan_out is {} but '{}' is {}; using {} as PEFT does", who, m.fan_in_fan_out, p->name,
                                            conv1d ? "a Conv1D weight" : "a Linear weight", conv1d));
      }
      const std::vector<uint64_t> want = conv1d ? std::vector<uint64_t>{m.in_features(), m.out_features()}
                                                : std::vector<uint64_t>{m.out_features(), m.in_features()};
      if (bs != want) {
        problems.push_back(fmt::format("{}: module '{}' (r={}) makes a {} delta but base tensor '{}' is {}", who, m.module, m.r,
                                       shape_to_string(want), p->name, shape_to_string(bs)));
        continue;
      }
      if (p->heads && (bs[0] % p->heads != 0 || (bs[0] / p->heads) % 2 != 0)) {
        problems.push_back(fmt::format("{}: cannot permute '{}' rows {} into {} heads", who, p->name, bs[0], p->heads));
        continue;
      }
      TensorRecipe& r = recipe_for(*p->tensor, p->name);
      if (untie) {
        r.how = "untied";
        plan.untied_output = p->name;
      }
      DeltaTerm t;
      t.module = &m;
      t.adapter = &ad;
      t.weight = w;
      t.transpose = conv1d;
      t.adapter_row = resolve.row_map(*p, ad.gguf, conv1d ? bs[1] : bs[0]);
      r.terms.push_back(t);
      r.adapter_names.push_back(who);
      if (r.how.empty() || r.how == "lora") r.how = m.magnitude ? "dora" : m.embedding ? "embedding-lora" : "lora";
      if (m.bias) {
        const auto pb = resolve.place(m.module + ".bias", ad.gguf);
        if (!pb || !pb->tensor || pb->tensor->shape != std::vector<uint64_t>{m.out_features()}) {
          problems.push_back(fmt::format("{}: module '{}' has lora_B.bias but the base has no [{}] bias '{}'", who, m.module, m.out_features(),
                                         pb ? pb->name : m.module + ".bias"));
          continue;
        }
        TensorRecipe& rb = recipe_for(*pb->tensor, pb->name);
        DeltaTerm tb = t;
        tb.adapter_row = resolve.row_map(*pb, ad.gguf, m.out_features());
        rb.bias_terms.push_back(tb);
        rb.adapter_names.push_back(who);
        if (rb.how.empty()) rb.how = "lora-bias";
      }
    }
    for (const auto& f : ad.full) {
      bool untie = false;
      auto p = place_untying(f.name, ad.gguf, untie);
      if (!p || !p->tensor) {
        problems.push_back(fmt::format("{}: '{}' (modules_to_save) has no tensor '{}' in the base", who, f.tensor->name, p ? p->name : f.name));
        continue;
      }
      std::vector<uint64_t> shape = f.tensor->shape;
      if (p->op == TensorOp::Transpose && in.gguf && shape.size() == 2) std::swap(shape[0], shape[1]);
      const auto& bs = p->tensor->shape;
      const bool embedding_like = p->name == embed_name || p->name == output_name;
      if (shape != bs) {
        const bool resize = embedding_like && shape.size() == 2 && bs.size() == 2 && shape[1] == bs[1] && shape[0] != bs[0];
        if (!resize) {
          problems.push_back(fmt::format("{}: '{}' is {} but base tensor '{}' is {}", who, f.tensor->name, shape_to_string(f.tensor->shape),
                                         p->name, shape_to_string(bs)));
          continue;
        }
        if (in.gguf) {
          problems.push_back(fmt::format("{}: '{}' resizes the vocabulary from {} to {}; a GGUF base's tokenizer cannot grow: merge into the HF base, then convert",
                                         who, f.tensor->name, bs[0], shape[0]));
          continue;
        }
        plan.vocab_from = bs[0];
        plan.vocab_to = std::max(plan.vocab_to, shape[0]);
        plan.resized = p->name;
      }
      TensorRecipe& r = recipe_for(*p->tensor, p->name);
      if (r.replacement) {
        problems.push_back(fmt::format("{}: '{}' is replaced by two adapters; merge them one at a time", who, p->name));
        continue;
      }
      r.replacement = f.tensor;
      r.replacement_op = in.gguf ? p->op : TensorOp::None;
      r.replacement_heads = p->heads;
      r.shape = shape;
      r.how = shape != bs ? "resized" : untie ? "untied" : is_bias_name(p->name) ? "replaced-bias" : "replaced";
      if (untie) plan.untied_output = p->name;
      r.adapter_names.push_back(who);
      if (w != 1.0) plan.warnings.push_back(fmt::format("{}: '{}' is a full tensor (modules_to_save); weight {} does not scale it", who, p->name, w));
    }
  }
  // A replaced tensor that LoRA also touches: PEFT would not produce this; the LoRA delta applies on top.
  const bool dense = !in.gguf && !in.bnb;
  for (auto& [name, r] : recipes) {
    if (o.merge_into == "nf4-roundtrip" && !r.terms.empty() && !r.replacement && r.how != "embedding-lora" && r.how != "untied") {
      if (!dense) {
        problems.push_back(fmt::format("--merge-into nf4-roundtrip needs the 16-bit base, but '{}' is {}", name,
                                       in.bnb ? "already bitsandbytes-quantized (it is the NF4 base: merge with --merge-into original)" : "from a GGUF"));
        break;
      }
      r.nf4_roundtrip = true;
    }
    if (!r.terms.empty() && r.terms.front().module->magnitude && r.replacement) {
      problems.push_back(fmt::format("'{}' is both replaced and DoRA-adapted", name));
    }
    plan.recipes.push_back(std::move(r));
  }
  if (!problems.empty()) {
    if (collect) {
      *collect = std::move(problems);
      return plan;
    }
    std::string list;
    constexpr size_t kShown = 8;
    for (size_t i = 0; i < problems.size() && i < kShown; ++i) list += (list.empty() ? " " : "; ") + problems[i];
    if (problems.size() > kShown) list += fmt::format("; and {} more (`ckpt inspect ADAPTER --base BASE` lists them all)", problems.size() - kShown);
    throw Error(ErrorCode::BadShape, o.base, Error::kNoOffset, "adapter",
                fmt::format("{} module(s) do not fit the base, nothing was written:{}", problems.size(), list));
  }
  return plan;
}

}  // namespace ckpt
