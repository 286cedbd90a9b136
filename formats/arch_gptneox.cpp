// GPTNeoXForCausalLM (EleutherAI pythia, polyglot-ko) -> GGUF "gptneox", as convert_hf_to_gguf's
// GPTNeoXModel writes it: LayerNorm with biases, the fused query_key_value regrouped from per-head
// [q k v] to [q; k; v] (rows and bias), partial rotary (rope.dimension_count = rotary_pct * head_dim),
// parallel residual flag, an untied embed_out. NEOX rope, no permutation.
#include "formats/architecture.h"

namespace ckpt {

const Architecture& gptneox_architecture() {
  static const Architecture kNeox = [] {
    Architecture a;
    a.hf_names = {"GPTNeoXForCausalLM"};
    a.gguf_arch = "gptneox";
    a.tensors = {
        {"gpt_neox.embed_in", "token_embd"},
        {"gpt_neox.final_layer_norm", "output_norm"},
        {"embed_out", "output"},
        {"gpt_neox.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
        {"gpt_neox.layers.{bid}.attention.query_key_value", "blk.{bid}.attn_qkv", TensorOp::NeoxQkv},
        {"gpt_neox.layers.{bid}.attention.dense", "blk.{bid}.attn_output"},
        {"gpt_neox.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
        {"gpt_neox.layers.{bid}.mlp.dense_h_to_4h", "blk.{bid}.ffn_up"},
        {"gpt_neox.layers.{bid}.mlp.dense_4h_to_h", "blk.{bid}.ffn_down"},
    };
    a.skip_suffixes = {".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h;
      h.n_layer = c.first_u64({"num_hidden_layers", "n_layer"});
      h.n_embd = c.u64("hidden_size");
      h.n_head = c.u64("num_attention_heads");
      h.n_head_kv = h.n_head;
      h.n_vocab = c.u64("vocab_size");
      h.n_ff = c.u64("intermediate_size");
      if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("num_attention_heads", "must divide hidden_size");
      h.head_dim = h.n_embd / h.n_head;
      const double rotary_pct = c.f64("rotary_pct", 1.0);
      if (!(rotary_pct > 0 && rotary_pct <= 1)) c.fail("rotary_pct", "must be in (0, 1]");
      const auto rope_dims = static_cast<uint64_t>(rotary_pct * static_cast<double>(h.head_dim));  // Python's int()
      if (rope_dims == 0 || rope_dims % 2 != 0) c.fail("rotary_pct", "must rotate an even, non-zero number of dimensions per head");
      add_u32(kvs, "gptneox.context_length", c.u64("max_position_embeddings"), c, "max_position_embeddings");
      add_u32(kvs, "gptneox.embedding_length", h.n_embd, c, "hidden_size");
      add_u32(kvs, "gptneox.block_count", h.n_layer, c, "num_hidden_layers");
      add_u32(kvs, "gptneox.feed_forward_length", h.n_ff, c, "intermediate_size");
      add_u32(kvs, "gptneox.rope.dimension_count", rope_dims, c, "rotary_pct");
      add_u32(kvs, "gptneox.attention.head_count", h.n_head, c, "num_attention_heads");
      kvs.push_back({"gptneox.use_parallel_residual", {c.boolean("use_parallel_residual", true)}, 0});
      add_f32(kvs, "gptneox.attention.layer_norm_epsilon", c.f64("layer_norm_eps", 1e-5));
      // llama.cpp's converter leaves the rope base out (its default, 10000, is pythia's and polyglot-ko's);
      // ckpt writes a different one instead of losing it.
      if (const double base = c.f64("rotary_emb_base", c.f64("rope_theta", 10000.0)); base != 10000.0) add_f32(kvs, "gptneox.rope.freq_base", base);
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) {
      std::vector<ExpectedTensor> out = {
          {"token_embd.weight", {h.n_embd, h.n_vocab}},
          {"output_norm.weight", {h.n_embd}},
          {"output_norm.bias", {h.n_embd}},
          {"output.weight", {h.n_embd, h.n_vocab}},
      };
      for (uint64_t i = 0; i < h.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        for (const char* n : {"attn_norm", "ffn_norm"}) {
          out.push_back({b + n + ".weight", {h.n_embd}});
          out.push_back({b + n + ".bias", {h.n_embd}});
        }
        out.push_back({b + "attn_qkv.weight", {h.n_embd, 3 * h.n_embd}});
        out.push_back({b + "attn_qkv.bias", {3 * h.n_embd}});
        out.push_back({b + "attn_output.weight", {h.n_embd, h.n_embd}});
        out.push_back({b + "attn_output.bias", {h.n_embd}});
        append_biased_mlp(out, h, b);
      }
      return out;
    };
    return a;
  }();
  return kNeox;
}

}  // namespace ckpt
