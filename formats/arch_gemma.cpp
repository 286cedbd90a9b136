// Gemma2ForCausalLM -> GGUF "gemma2", Gemma3ForCausalLM / Gemma3ForConditionalGeneration (its text
// model) -> "gemma3", as convert_hf_to_gguf's Gemma2Model / Gemma3Model write them: every *norm.weight
// stored as 1 + w (Gemma's RMSNorm scales by 1 + w), lm_head dropped (tied), post-attention and
// pre/post feed-forward norms, Gemma 3's q/k norms, soft-capping and sliding-window keys, and Gemma 3's
// local (sliding-window layer) rope base. NEOX rope, so nothing is permuted.
#include "formats/architecture.h"

namespace ckpt {
namespace {

std::vector<TensorRule> gemma_rules(const std::string& model, bool qk_norm) {
  std::vector<TensorRule> r = {
      {model + "embed_tokens", "token_embd"},
      {model + "norm", "output_norm", TensorOp::AddOne},
      {model + "layers.{bid}.input_layernorm", "blk.{bid}.attn_norm", TensorOp::AddOne},
      {model + "layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
      {model + "layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
      {model + "layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
      {model + "layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
      {model + "layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm", TensorOp::AddOne},
      {model + "layers.{bid}.pre_feedforward_layernorm", "blk.{bid}.ffn_norm", TensorOp::AddOne},
      {model + "layers.{bid}.post_feedforward_layernorm", "blk.{bid}.post_ffw_norm", TensorOp::AddOne},
      {model + "layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
      {model + "layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
      {model + "layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
  };
  if (qk_norm) {
    r.push_back({model + "layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm", TensorOp::AddOne});
    r.push_back({model + "layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm", TensorOp::AddOne});
  }
  return r;
}

ArchHparams gemma_shape(const JsonFile& c, uint64_t default_heads, uint64_t default_kv_heads, uint64_t default_head_dim) {
  ArchHparams h;
  h.n_layer = c.first_u64({"num_hidden_layers", "n_layers"});
  h.n_embd = c.u64("hidden_size");
  h.n_head = c.opt_u64("num_attention_heads").value_or(default_heads);
  h.n_head_kv = c.opt_u64("num_key_value_heads").value_or(default_kv_heads ? default_kv_heads : h.n_head);
  h.n_vocab = c.u64("vocab_size");
  h.n_ff = c.u64("intermediate_size");
  h.head_dim = c.opt_u64("head_dim").value_or(default_head_dim);
  if (h.n_head == 0) c.fail("num_attention_heads", "must be > 0");
  if (h.n_head_kv == 0 || h.n_head % h.n_head_kv != 0) c.fail("num_key_value_heads", "must divide num_attention_heads");
  if (h.head_dim == 0 || h.head_dim % 2 != 0) c.fail("head_dim", "must be even and > 0");
  return h;
}

std::vector<ExpectedTensor> gemma_expected(const ArchHparams& h, bool qk_norm) {
  std::vector<ExpectedTensor> out = {{"token_embd.weight", {h.n_embd, h.n_vocab}}, {"output_norm.weight", {h.n_embd}}};
  for (uint64_t i = 0; i < h.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    for (const char* n : {"attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"}) out.push_back({b + n + ".weight", {h.n_embd}});
    append_llama_layer_matrices(out, h, b);
    if (qk_norm) {
      out.push_back({b + "attn_q_norm.weight", {h.head_dim}});
      out.push_back({b + "attn_k_norm.weight", {h.head_dim}});
    }
  }
  return out;
}

std::optional<double> positive_number(const JsonFile& c, const char* key) {
  const auto v = c.opt_f64(key);
  if (v && !(*v > 0)) c.fail(key, "must be > 0");
  return v;
}

}  // namespace

const Architecture& gemma2_architecture() {
  static const Architecture kGemma2 = [] {
    Architecture a;
    a.hf_names = {"Gemma2ForCausalLM"};
    a.gguf_arch = "gemma2";
    a.tensors = gemma_rules("model.", false);
    a.skip_suffixes = {".rotary_emb.inv_freq", "lm_head.weight"};
    a.spm_add_space_prefix = false;
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h = gemma_shape(c, 0, 0, 0);
      if (h.head_dim == 0) c.fail("head_dim", "Gemma 2's config must name it");
      add_u32(kvs, "gemma2.context_length", c.u64("max_position_embeddings"), c, "max_position_embeddings");
      add_u32(kvs, "gemma2.embedding_length", h.n_embd, c, "hidden_size");
      add_u32(kvs, "gemma2.block_count", h.n_layer, c, "num_hidden_layers");
      add_u32(kvs, "gemma2.feed_forward_length", h.n_ff, c, "intermediate_size");
      add_u32(kvs, "gemma2.attention.head_count", h.n_head, c, "num_attention_heads");
      add_u32(kvs, "gemma2.attention.head_count_kv", h.n_head_kv, c, "num_key_value_heads");
      add_f32(kvs, "gemma2.attention.layer_norm_rms_epsilon", c.f64("rms_norm_eps", 1e-6));
      add_u32(kvs, "gemma2.attention.key_length", h.head_dim, c, "head_dim");
      add_u32(kvs, "gemma2.attention.value_length", h.head_dim, c, "head_dim");
      const auto attn_cap = positive_number(c, "attn_logit_softcapping"), final_cap = positive_number(c, "final_logit_softcapping");
      if (!attn_cap) c.fail("attn_logit_softcapping", "Gemma 2's config must name it");
      if (!final_cap) c.fail("final_logit_softcapping", "Gemma 2's config must name it");
      add_f32(kvs, "gemma2.attn_logit_softcapping", *attn_cap);
      add_f32(kvs, "gemma2.final_logit_softcapping", *final_cap);
      add_u32(kvs, "gemma2.attention.sliding_window", c.u64("sliding_window"), c, "sliding_window");
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) { return gemma_expected(h, false); };
    return a;
  }();
  return kGemma2;
}

const Architecture& gemma3_architecture() {
  static const Architecture kGemma3 = [] {
    Architecture a;
    a.hf_names = {"Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"};
    a.gguf_arch = "gemma3";
    // The text model's names as Gemma3ForCausalLM, Gemma3ForConditionalGeneration (transformers < 4.52)
    // and its later layout spell them; --to hf writes the first.
    for (const char* model : {"model.", "language_model.model.", "model.language_model."}) {
      const auto r = gemma_rules(model, true);
      a.tensors.insert(a.tensors.end(), r.begin(), r.end());
    }
    a.skip_suffixes = {".rotary_emb.inv_freq", "lm_head.weight"};
    a.skip_prefixes = {"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector."};
    a.spm_add_space_prefix = false;
    a.trim_embedding_to_vocab = true;
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h = gemma_shape(c, 8, 4, 256);
      add_u32(kvs, "gemma3.block_count", h.n_layer, c, "num_hidden_layers");
      add_u32(kvs, "gemma3.context_length", c.opt_u64("max_position_embeddings").value_or(131072), c, "max_position_embeddings");
      add_u32(kvs, "gemma3.embedding_length", h.n_embd, c, "hidden_size");
      add_u32(kvs, "gemma3.feed_forward_length", h.n_ff, c, "intermediate_size");
      add_u32(kvs, "gemma3.attention.head_count", h.n_head, c, "num_attention_heads");
      add_u32(kvs, "gemma3.attention.head_count_kv", h.n_head_kv, c, "num_key_value_heads");
      write_rope_scaling(c, kvs, "gemma3", h);
      add_f32(kvs, "gemma3.rope.freq_base", c.f64("rope_theta", 1000000.0));
      if (const auto local = positive_number(c, "rope_local_base_freq")) add_f32(kvs, "gemma3.rope.freq_base_swa", *local);
      add_f32(kvs, "gemma3.attention.layer_norm_rms_epsilon", c.f64("rms_norm_eps", 1e-6));
      add_u32(kvs, "gemma3.attention.key_length", h.head_dim, c, "head_dim");
      add_u32(kvs, "gemma3.attention.value_length", h.head_dim, c, "head_dim");
      if (c.has("attn_logit_softcapping")) {
        c.fail("attn_logit_softcapping", "Gemma 3 has no attention soft-capping (llama.cpp's converter asserts it is null)",
               ErrorCode::Unsupported);
      }
      if (const auto cap = c.opt_f64("final_logit_softcapping"); cap && *cap != 0) add_f32(kvs, "gemma3.final_logit_softcapping", *cap);
      if (c.opt_u64("sliding_window_pattern").value_or(0) != 1) {
        add_u32(kvs, "gemma3.attention.sliding_window", c.u64("sliding_window"), c, "sliding_window");
      }
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) { return gemma_expected(h, true); };
    return a;
  }();
  return kGemma3;
}

}  // namespace ckpt
