// Qwen3ForCausalLM -> GGUF "qwen3": llama's layout without q/k/v biases, with per-head RMSNorm weights
// on q and k (attn_q_norm / attn_k_norm, [head_dim]) and an explicit head_dim; NEOX rope, no permutation.
#include "formats/architecture.h"

namespace ckpt {

const Architecture& qwen3_architecture() {
  static const Architecture kQwen3 = [] {
    Architecture a;
    a.hf_names = {"Qwen3ForCausalLM"};
    a.gguf_arch = "qwen3";
    a.tensors = llama_style_tensor_rules(/*permute_qk=*/false);
    a.tensors.push_back({"model.layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"});
    a.tensors.push_back({"model.layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"});
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      return write_llama_style_hparams(c, kvs, "qwen3", {40960, 1000000.0, 1e-6});
    };
    a.expected_tensors = [](const ArchHparams& h) {
      auto out = llama_style_expected_tensors(h, false);
      for (uint64_t i = 0; i < h.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        out.push_back({b + "attn_q_norm.weight", {h.head_dim}});
        out.push_back({b + "attn_k_norm.weight", {h.head_dim}});
      }
      return out;
    };
    return a;
  }();
  return kQwen3;
}

}  // namespace ckpt
