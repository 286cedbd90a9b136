#include "runtime/trainer/lora_targets.h"

#include <set>

#include <fmt/format.h>

#include "formats/error.h"
#include "formats/permute.h"

namespace ckpt::runtime {

std::vector<LoraTarget> select_lora_targets(const Model& model, const std::vector<std::string>& requested) {
  const Architecture* arch = find_architecture_by_gguf_name(model.hp.arch_name);
  if (!arch) throw Error(ErrorCode::Unsupported, model.path, Error::kNoOffset, "general.architecture", "'" + model.hp.arch_name + "' has no HF module names for an adapter");
  const bool all_linear = requested.size() == 1 && requested[0] == "all-linear";
  std::vector<LoraTarget> out;
  std::set<std::string> available, matched;
  for (uint32_t il = 0; il < model.layers.size(); ++il) {
    const Layer& l = model.layers[il];
    const std::pair<const char*, const Weight*> slots[] = {{"attn_q", &l.wq},     {"attn_k", &l.wk},        {"attn_v", &l.wv},
                                                           {"attn_qkv", &l.wqkv}, {"attn_output", &l.wo},   {"ffn_gate", &l.w_gate},
                                                           {"ffn_up", &l.w_up},   {"ffn_down", &l.w_down}};
    for (const auto& [gguf, w] : slots) {
      if (!w->present()) continue;
      const std::string gguf_name = fmt::format("blk.{}.{}.weight", il, gguf);
      const auto hf = map_tensor_name_to_hf(*arch, gguf_name);
      if (!hf) throw Error(ErrorCode::Unsupported, model.path, Error::kNoOffset, gguf_name, "has no HF module name in the '" + model.hp.arch_name + "' table");
      LoraTarget t;
      t.weight = w;
      t.layer = il;
      t.module = hf->gguf_name.substr(0, hf->gguf_name.size() - std::string(".weight").size());
      t.short_name = t.module.substr(t.module.rfind('.') + 1);
      t.op = hf->op;
      const uint64_t heads = heads_for_rows(t.op, model.hp.n_head, model.hp.n_head_kv);
      t.row_heads = heads && !model.hf_qk_rows ? heads : 0;
      available.insert(t.short_name);
      bool take = false;
      if (all_linear) {
        take = true;
      } else if (requested.empty()) {
        take = std::string(gguf).rfind("attn_", 0) == 0;
      } else {
        for (const auto& name : requested) {
          // PEFT: the full name equals it or ends with "." + it.
          if (t.module == name || (t.module.size() > name.size() && t.module.compare(t.module.size() - name.size(), name.size(), name) == 0 &&
                                   t.module[t.module.size() - name.size() - 1] == '.')) {
            take = true;
            matched.insert(name);
          }
        }
      }
      if (take) out.push_back(std::move(t));
    }
  }
  // The output head only when named ("lm_head"), as PEFT: all-linear leaves it out.
  if (model.output.present() && !all_linear) {
    if (const auto hf = map_tensor_name_to_hf(*arch, "output.weight")) {
      LoraTarget t;
      t.weight = &model.output;
      t.layer = static_cast<uint32_t>(model.layers.size());
      t.module = hf->gguf_name.substr(0, hf->gguf_name.size() - std::string(".weight").size());
      t.short_name = t.module.substr(t.module.rfind('.') + 1);
      available.insert(t.short_name);
      for (const auto& name : requested) {
        if (name == t.module || name == t.short_name) {
          matched.insert(name);
          out.push_back(t);
          break;
        }
      }
    }
  }
  if (!all_linear) {
    for (const auto& name : requested) {
      if (!matched.count(name)) {
        std::string names;
        for (const auto& a : available) names += (names.empty() ? "" : ", ") + a;
        throw Error(ErrorCode::InvalidArgument, model.path, Error::kNoOffset, "--target_modules", "'" + name + "' matches no linear layer; this model has " + names);
      }
    }
  }
  if (out.empty()) throw Error(ErrorCode::InvalidArgument, model.path, Error::kNoOffset, "--target_modules", "selects no weight");
  return out;
}

uint64_t hf_row_of(const LoraTarget& t, uint64_t row) {
  return t.row_heads ? hf_row_for(t.op, row, t.weight->rows, t.row_heads) : row;
}

}  // namespace ckpt::runtime
