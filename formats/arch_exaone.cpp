// ExaoneForCausalLM (EXAONE 3.0 / 3.5, LG AI Research) -> GGUF "exaone" and Exaone4ForCausalLM
// (EXAONE 4.0) -> "exaone4", as convert_hf_to_gguf's ExaoneModel / Exaone4Model write them. EXAONE 3
// is llama's block under GPT-2-style names (transformer.h.N.attn.attention.*, mlp.c_fc_0 = gate,
// c_fc_1 = up); EXAONE 4 has no pre-norms, only post-attention / post-feed-forward norms, q/k norms,
// and optional sliding-window layers. Both: NEOX rope (nothing permuted), llama3 rope_freqs.
#include <cmath>

#include "formats/architecture.h"

namespace ckpt {
namespace {

// TextModel.set_gguf_parameters' common keys, in its order.
ArchHparams write_text_model_hparams(const JsonFile& c, std::vector<GgufKv>& kvs, const std::string& arch, double norm_eps) {
  ArchHparams h;
  h.n_layer = c.first_u64({"num_hidden_layers", "num_layers", "n_layers"});
  h.n_embd = c.u64("hidden_size");
  h.n_head = c.u64("num_attention_heads");
  h.n_head_kv = c.opt_u64("num_key_value_heads").value_or(h.n_head);
  h.n_vocab = c.u64("vocab_size");
  h.n_ff = c.u64("intermediate_size");
  if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("num_attention_heads", "must divide hidden_size");
  if (h.n_head_kv == 0 || h.n_head % h.n_head_kv != 0) c.fail("num_key_value_heads", "must divide num_attention_heads");
  h.head_dim = c.opt_u64("head_dim").value_or(h.n_embd / h.n_head);
  add_u32(kvs, arch + ".block_count", h.n_layer, c, "num_layers");
  add_u32(kvs, arch + ".context_length", c.u64("max_position_embeddings"), c, "max_position_embeddings");
  add_u32(kvs, arch + ".embedding_length", h.n_embd, c, "hidden_size");
  add_u32(kvs, arch + ".feed_forward_length", h.n_ff, c, "intermediate_size");
  add_u32(kvs, arch + ".attention.head_count", h.n_head, c, "num_attention_heads");
  add_u32(kvs, arch + ".attention.head_count_kv", h.n_head_kv, c, "num_key_value_heads");
  write_rope_scaling(c, kvs, arch, h);
  add_f32(kvs, arch + ".rope.freq_base", c.f64("rope_theta", 10000.0));
  add_f32(kvs, arch + ".attention.layer_norm_rms_epsilon", norm_eps);
  if (c.has("head_dim")) {
    add_u32(kvs, arch + ".attention.key_length", h.head_dim, c, "head_dim");
    add_u32(kvs, arch + ".attention.value_length", h.head_dim, c, "head_dim");
  }
  return h;
}

std::vector<ExpectedTensor> exaone_expected(const ArchHparams& h, bool exaone4) {
  std::vector<ExpectedTensor> out = {
      {"token_embd.weight", {h.n_embd, h.n_vocab}},
      {"output_norm.weight", {h.n_embd}},
      {"output.weight", {h.n_embd, h.n_vocab}, false},
  };
  if (!h.rope_freqs.empty()) out.push_back({"rope_freqs.weight", {h.rope_freqs.size()}});
  for (uint64_t i = 0; i < h.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    if (exaone4) {
      out.push_back({b + "post_attention_norm.weight", {h.n_embd}});
      out.push_back({b + "post_ffw_norm.weight", {h.n_embd}});
      out.push_back({b + "attn_q_norm.weight", {h.head_dim}});
      out.push_back({b + "attn_k_norm.weight", {h.head_dim}});
    } else {
      out.push_back({b + "attn_norm.weight", {h.n_embd}});
      out.push_back({b + "ffn_norm.weight", {h.n_embd}});
    }
    append_llama_layer_matrices(out, h, b);
  }
  return out;
}

}  // namespace

const Architecture& exaone_architecture() {
  static const Architecture kExaone = [] {
    Architecture a;
    a.hf_names = {"ExaoneForCausalLM"};
    a.gguf_arch = "exaone";
    a.tensors = {
        {"transformer.wte", "token_embd"},
        {"transformer.ln_f", "output_norm"},
        {"lm_head", "output"},
        {"transformer.h.{bid}.ln_1", "blk.{bid}.attn_norm"},
        {"transformer.h.{bid}.attn.attention.q_proj", "blk.{bid}.attn_q"},
        {"transformer.h.{bid}.attn.attention.k_proj", "blk.{bid}.attn_k"},
        {"transformer.h.{bid}.attn.attention.v_proj", "blk.{bid}.attn_v"},
        {"transformer.h.{bid}.attn.attention.out_proj", "blk.{bid}.attn_output"},
        {"transformer.h.{bid}.ln_2", "blk.{bid}.ffn_norm"},
        {"transformer.h.{bid}.mlp.c_fc_0", "blk.{bid}.ffn_gate"},
        {"transformer.h.{bid}.mlp.c_fc_1", "blk.{bid}.ffn_up"},
        {"transformer.h.{bid}.mlp.c_proj", "blk.{bid}.ffn_down"},
    };
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      if (c.opt_str("activation_function").value_or("silu") != "silu") {
        c.fail("activation_function", "EXAONE is converted with silu only (llama.cpp asserts it)", ErrorCode::Unsupported);
      }
      // EXAONE 3's config names its RMSNorm epsilon layer_norm_epsilon; llama.cpp's loader reads the RMS key.
      ArchHparams h = write_text_model_hparams(c, kvs, "exaone", c.f64("layer_norm_epsilon", c.f64("rms_norm_eps", 1e-5)));
      const double rotary = c.f64("partial_rotary_factor", 1.0);
      if (!(rotary > 0 && rotary <= 1)) c.fail("partial_rotary_factor", "must be in (0, 1]");
      add_u32(kvs, "exaone.rope.dimension_count", static_cast<uint64_t>(rotary * static_cast<double>(h.n_embd / h.n_head)), c,
              "partial_rotary_factor");
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) { return exaone_expected(h, false); };
    return a;
  }();
  return kExaone;
}

const Architecture& exaone4_architecture() {
  static const Architecture kExaone4 = [] {
    Architecture a;
    a.hf_names = {"Exaone4ForCausalLM"};
    a.gguf_arch = "exaone4";
    a.tensors = {
        {"model.embed_tokens", "token_embd"},
        {"model.norm", "output_norm"},
        {"lm_head", "output"},
        {"model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
        {"model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
        {"model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
        {"model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
        {"model.layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"},
        {"model.layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"},
        {"model.layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm"},
        {"model.layers.{bid}.post_feedforward_layernorm", "blk.{bid}.post_ffw_norm"},
        {"model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate"},
        {"model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up"},
        {"model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
    };
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h = write_text_model_hparams(c, kvs, "exaone4", c.f64("rms_norm_eps", 1e-5));
      add_u32(kvs, "exaone4.vocab_size", h.n_vocab, c, "vocab_size");
      if (const auto window = c.opt_u64("sliding_window")) {
        add_u32(kvs, "exaone4.attention.sliding_window", *window, c, "sliding_window");
        // One bool per layer: layer_types, or sliding_window_pattern as a string ("LLLG") or a period.
        std::vector<bool> pattern;
        const auto& j = c.json();
        if (const auto types = j.find("layer_types"); types != j.end() && types->is_array()) {
          for (const auto& t : *types) pattern.push_back(t.is_string() && t.get<std::string>() == "sliding_attention");
        } else if (const auto p = j.find("sliding_window_pattern"); p != j.end() && p->is_string() && !p->get<std::string>().empty()) {
          const std::string s = p->get<std::string>();
          for (uint64_t i = 0; i < h.n_layer; ++i) pattern.push_back(s[i % s.size()] == 'L');
        } else if (p != j.end() && p->is_number_unsigned() && p->get<uint64_t>() > 0) {
          for (uint64_t i = 0; i < h.n_layer; ++i) pattern.push_back((i + 1) % p->get<uint64_t>() != 0);
        }
        if (pattern.size() == h.n_layer) {
          GgufArray arr;
          arr.element_type = GgufType::Bool;
          arr.count = pattern.size();
          for (bool b : pattern) arr.raw.push_back(static_cast<std::byte>(b ? 1 : 0));
          kvs.push_back({"exaone4.attention.sliding_window_pattern", GgufValue{GgufArrayBox(std::move(arr))}, 0});
        }
      }
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) { return exaone_expected(h, true); };
    return a;
  }();
  return kExaone4;
}

}  // namespace ckpt
