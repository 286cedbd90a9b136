// LlamaForCausalLM / MistralForCausalLM -> GGUF "llama" (gguf-py tensor_mapping.py, LlamaModel), and
// the llama-style layout other architectures reuse.
#include "formats/architecture.h"

namespace ckpt {

std::vector<TensorRule> llama_style_tensor_rules(bool permute_qk) {
  return {
      {"model.embed_tokens", "token_embd"},
      {"model.norm", "output_norm"},
      {"lm_head", "output"},
      {"model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
      {"model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q", permute_qk ? TensorOp::PermuteQ : TensorOp::None},
      {"model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k", permute_qk ? TensorOp::PermuteK : TensorOp::None},
      {"model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
      {"model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
      {"model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
      {"model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
      {"model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
      {"model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
  };
}

std::vector<ExpectedTensor> llama_style_expected_tensors(const ArchHparams& h, bool qkv_bias_required) {
  const uint64_t q = h.n_head * h.head_dim, kv = h.n_head_kv * h.head_dim;
  std::vector<ExpectedTensor> out = {
      {"token_embd.weight", {h.n_embd, h.n_vocab}},
      {"output_norm.weight", {h.n_embd}},
      {"output.weight", {h.n_embd, h.n_vocab}, false},  // absent when tied to the embedding
  };
  for (uint64_t i = 0; i < h.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const std::vector<ExpectedTensor> layer = {
        {b + "attn_norm.weight", {h.n_embd}},     {b + "attn_q.weight", {h.n_embd, q}},
        {b + "attn_k.weight", {h.n_embd, kv}},    {b + "attn_v.weight", {h.n_embd, kv}},
        {b + "attn_output.weight", {q, h.n_embd}}, {b + "ffn_norm.weight", {h.n_embd}},
        {b + "ffn_gate.weight", {h.n_embd, h.n_ff}}, {b + "ffn_up.weight", {h.n_embd, h.n_ff}},
        {b + "ffn_down.weight", {h.n_ff, h.n_embd}},
        {b + "attn_q.bias", {q}, qkv_bias_required}, {b + "attn_k.bias", {kv}, qkv_bias_required},
        {b + "attn_v.bias", {kv}, qkv_bias_required},
    };
    out.insert(out.end(), layer.begin(), layer.end());
  }
  return out;
}

ArchHparams write_llama_style_hparams(const JsonFile& c, std::vector<GgufKv>& kvs, const std::string& arch,
                                      const LlamaStyleDefaults& defaults) {
  ArchHparams h;
  h.n_layer = c.first_u64({"num_hidden_layers", "n_layers", "n_layer"});
  h.n_embd = c.u64("hidden_size");
  h.n_head = c.u64("num_attention_heads");
  h.n_head_kv = c.opt_u64("num_key_value_heads").value_or(h.n_head);
  h.n_vocab = c.u64("vocab_size");
  if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("num_attention_heads", "must divide hidden_size");
  if (h.n_head_kv == 0 || h.n_head % h.n_head_kv != 0) c.fail("num_key_value_heads", "must divide num_attention_heads");
  const uint64_t head_dim = c.opt_u64("head_dim").value_or(h.n_embd / h.n_head);
  h.head_dim = head_dim;
  h.n_ff = c.u64("intermediate_size");
  add_u32(kvs, arch + ".block_count", h.n_layer, c, "num_hidden_layers");
  add_u32(kvs, arch + ".context_length", c.opt_u64("max_position_embeddings").value_or(defaults.context_length), c,
          "max_position_embeddings");
  add_u32(kvs, arch + ".embedding_length", h.n_embd, c, "hidden_size");
  add_u32(kvs, arch + ".feed_forward_length", c.u64("intermediate_size"), c, "intermediate_size");
  add_u32(kvs, arch + ".attention.head_count", h.n_head, c, "num_attention_heads");
  add_u32(kvs, arch + ".attention.head_count_kv", h.n_head_kv, c, "num_key_value_heads");
  add_f32(kvs, arch + ".rope.freq_base", c.f64("rope_theta", defaults.rope_theta));
  add_f32(kvs, arch + ".attention.layer_norm_rms_epsilon", c.f64("rms_norm_eps", defaults.rms_norm_eps));
  add_u32(kvs, arch + ".vocab_size", h.n_vocab, c, "vocab_size");
  add_u32(kvs, arch + ".rope.dimension_count", head_dim, c, "head_dim");
  if (const auto it = c.json().find("rope_scaling"); it != c.json().end() && it->is_object()) {
    const auto type = it->value("rope_type", it->value("type", std::string()));
    if (type == "linear") {
      kvs.push_back({arch + ".rope.scaling.type", {std::string("linear")}, 0});
      add_f32(kvs, arch + ".rope.scaling.factor", it->value("factor", 1.0));
    } else if (!type.empty() && type != "default") {
      c.fail("rope_scaling", "rope scaling '" + type + "' is not converted yet", ErrorCode::Unsupported);
    }
  }
  return h;
}

const Architecture& llama_architecture() {
  static const Architecture kLlama = [] {
    Architecture a;
    a.hf_names = {"LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM"};
    a.gguf_arch = "llama";
    a.tensors = llama_style_tensor_rules(/*permute_qk=*/true);  // llama.cpp's LLAMA rope is interleaved
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      return write_llama_style_hparams(c, kvs, "llama", {4096, 10000.0, 1e-5});
    };
    a.expected_tensors = [](const ArchHparams& h) { return llama_style_expected_tensors(h, false); };
    return a;
  }();
  return kLlama;
}

}  // namespace ckpt
