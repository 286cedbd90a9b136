// Qwen2ForCausalLM -> GGUF "qwen2": llama's layout plus q/k/v biases (matched by the ".bias" suffix),
// NEOX rope in llama.cpp, so no Q/K permutation.
#include "formats/architecture.h"

namespace ckpt {

const Architecture& qwen2_architecture() {
  static const Architecture kQwen2 = [] {
    Architecture a;
    a.hf_names = {"Qwen2ForCausalLM"};
    a.gguf_arch = "qwen2";
    a.tensors = llama_style_tensor_rules(/*permute_qk=*/false);
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      return write_llama_style_hparams(c, kvs, "qwen2", {32768, 1000000.0, 1e-6});
    };
    a.expected_tensors = [](const ArchHparams& h) { return llama_style_expected_tensors(h, true); };
    return a;
  }();
  return kQwen2;
}

}  // namespace ckpt
