// Qwen2ForCausalLM -> GGUF "qwen2": llama's layout plus q/k/v biases, NEOX rope (no Q/K permutation).
#include "convert/architecture.h"

namespace ckpt {

const Architecture& qwen2_architecture() {
  static const Architecture kQwen2 = [] {
    Architecture a;
    a.hf_names = {"Qwen2ForCausalLM"};
    a.gguf_arch = "qwen2";
    a.tensors = {
        {"model.embed_tokens", "token_embd"},
        {"model.norm", "output_norm"},
        {"lm_head", "output"},
        {"model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
        {"model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
        {"model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
        {"model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
        {"model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
        {"model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
        {"model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
        {"model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
        {"model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
    };
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h;
      h.n_layer = c.u64("num_hidden_layers");
      h.n_embd = c.u64("hidden_size");
      h.n_head = c.u64("num_attention_heads");
      h.n_head_kv = c.opt_u64("num_key_value_heads").value_or(h.n_head);
      h.n_vocab = c.u64("vocab_size");
      if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("num_attention_heads", "must divide hidden_size");
      add_u32(kvs, "qwen2.block_count", h.n_layer, c, "num_hidden_layers");
      add_u32(kvs, "qwen2.context_length", c.opt_u64("max_position_embeddings").value_or(32768), c, "max_position_embeddings");
      add_u32(kvs, "qwen2.embedding_length", h.n_embd, c, "hidden_size");
      add_u32(kvs, "qwen2.feed_forward_length", c.u64("intermediate_size"), c, "intermediate_size");
      add_u32(kvs, "qwen2.attention.head_count", h.n_head, c, "num_attention_heads");
      add_u32(kvs, "qwen2.attention.head_count_kv", h.n_head_kv, c, "num_key_value_heads");
      add_f32(kvs, "qwen2.rope.freq_base", c.f64("rope_theta", 1000000.0));
      add_f32(kvs, "qwen2.attention.layer_norm_rms_epsilon", c.f64("rms_norm_eps", 1e-6));
      return h;
    };
    return a;
  }();
  return kQwen2;
}

}  // namespace ckpt
