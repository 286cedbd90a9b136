// Phi3ForCausalLM -> GGUF "phi3" (Phi-3 / Phi-3.5 mini and medium): llama's layout with q/k/v fused
// into attn_qkv and gate/up fused into ffn_up (gate first), kept fused as llama.cpp keeps them; NEOX
// rope; the 128k variants' longrope factors as rope_factors_long / rope_factors_short.
#include <cmath>

#include "formats/architecture.h"

namespace ckpt {
namespace {

// The 128k variants (Phi-3-mini-128k, Phi-3.5): rope_scaling's long/short factors become the
// rope_factors_long / rope_factors_short tensors, and the cos/sin scale rope.scaling.attn_factor
// (Phi3MiniModel.generate_extra_tensors).
void write_longrope(const JsonFile& c, std::vector<GgufKv>& kvs, ArchHparams& h, uint64_t ctx, uint64_t original) {
  const auto it = c.json().find("rope_scaling");
  if (it == c.json().end() || !it->is_object()) return;
  const auto long_it = it->find("long_factor");
  if (long_it == it->end() || long_it->is_null() || (long_it->is_array() && long_it->empty())) return;
  const std::string type = it->value("rope_type", it->value("type", std::string()));
  const double scale = static_cast<double>(ctx) / static_cast<double>(original);
  double attn_factor = 1.0;
  if (type == "su" || type == "longrope") {
    if (scale > 1.0) attn_factor = std::sqrt(1 + std::log(scale) / std::log(static_cast<double>(original)));
  } else if (type == "yarn") {
    if (scale > 1.0) attn_factor = 0.1 * std::log(scale) + 1.0;
  } else {
    c.fail("rope_scaling", "Phi-3 rope scaling '" + type + "' is not converted (su, longrope and yarn are)", ErrorCode::Unsupported);
  }
  auto factors = [&](const char* key) {
    const auto f = it->find(key);
    std::vector<float> out;
    if (f == it->end() || !f->is_array()) c.fail("rope_scaling", std::string("needs a ") + key + " list");
    for (const auto& x : *f) {
      if (!x.is_number() || !std::isfinite(x.get<double>()) || x.get<double>() <= 0) c.fail("rope_scaling", std::string(key) + " holds a value that is not a positive number");
      out.push_back(static_cast<float>(x.get<double>()));
    }
    if (out.size() * 2 != h.head_dim) {
      c.fail("rope_scaling", std::string(key) + " has " + std::to_string(out.size()) + " values; rope rotates " + std::to_string(h.head_dim / 2) + " pairs");
    }
    return out;
  };
  h.rope_factors_long = factors("long_factor");
  h.rope_factors_short = factors("short_factor");
  add_f32(kvs, "phi3.rope.scaling.attn_factor", attn_factor);
}

}  // namespace

const Architecture& phi3_architecture() {
  static const Architecture kPhi3 = [] {
    Architecture a;
    a.hf_names = {"Phi3ForCausalLM"};
    a.gguf_arch = "phi3";
    a.tensors = {
        {"model.embed_tokens", "token_embd"},
        {"model.norm", "output_norm"},
        {"lm_head", "output"},
        {"model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
        {"model.layers.{bid}.self_attn.qkv_proj", "blk.{bid}.attn_qkv"},
        {"model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
        {"model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm"},
        {"model.layers.{bid}.mlp.gate_up_proj", "blk.{bid}.ffn_up"},
        {"model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down"},
    };
    a.skip_suffixes = {".rotary_emb.inv_freq"};
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h;
      h.n_layer = c.first_u64({"num_hidden_layers", "n_layer"});
      h.n_embd = c.u64("hidden_size");
      h.n_head = c.u64("num_attention_heads");
      h.n_head_kv = c.opt_u64("num_key_value_heads").value_or(h.n_head);
      h.n_vocab = c.u64("vocab_size");
      h.n_ff = c.u64("intermediate_size");
      if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("num_attention_heads", "must divide hidden_size");
      if (h.n_head_kv == 0 || h.n_head % h.n_head_kv != 0) c.fail("num_key_value_heads", "must divide num_attention_heads");
      h.head_dim = h.n_embd / h.n_head;
      const uint64_t ctx = c.opt_u64("max_position_embeddings").value_or(4096);
      add_u32(kvs, "phi3.context_length", ctx, c, "max_position_embeddings");
      add_u32(kvs, "phi3.rope.scaling.original_context_length", c.opt_u64("original_max_position_embeddings").value_or(ctx), c,
              "original_max_position_embeddings");
      add_u32(kvs, "phi3.embedding_length", h.n_embd, c, "hidden_size");
      add_u32(kvs, "phi3.feed_forward_length", h.n_ff, c, "intermediate_size");
      add_u32(kvs, "phi3.block_count", h.n_layer, c, "num_hidden_layers");
      add_u32(kvs, "phi3.attention.head_count", h.n_head, c, "num_attention_heads");
      add_u32(kvs, "phi3.attention.head_count_kv", h.n_head_kv, c, "num_key_value_heads");
      add_f32(kvs, "phi3.attention.layer_norm_rms_epsilon", c.f64("rms_norm_eps", 1e-5));
      add_u32(kvs, "phi3.rope.dimension_count", h.head_dim, c, "hidden_size");
      add_f32(kvs, "phi3.rope.freq_base", c.f64("rope_theta", 10000.0));
      add_u32(kvs, "phi3.attention.sliding_window", c.opt_u64("sliding_window").value_or(0), c, "sliding_window");
      write_longrope(c, kvs, h, ctx, c.opt_u64("original_max_position_embeddings").value_or(ctx));
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) {
      const uint64_t q = h.n_head * h.head_dim, kv = h.n_head_kv * h.head_dim;
      std::vector<ExpectedTensor> out = {
          {"token_embd.weight", {h.n_embd, h.n_vocab}},
          {"output_norm.weight", {h.n_embd}},
          {"output.weight", {h.n_embd, h.n_vocab}, false},
          {"rope_factors_long.weight", {h.head_dim / 2}, false},
          {"rope_factors_short.weight", {h.head_dim / 2}, false},
      };
      for (uint64_t i = 0; i < h.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        out.push_back({b + "attn_norm.weight", {h.n_embd}});
        out.push_back({b + "attn_qkv.weight", {h.n_embd, q + 2 * kv}});
        out.push_back({b + "attn_output.weight", {q, h.n_embd}});
        out.push_back({b + "ffn_norm.weight", {h.n_embd}});
        out.push_back({b + "ffn_up.weight", {h.n_embd, 2 * h.n_ff}});
        out.push_back({b + "ffn_down.weight", {h.n_ff, h.n_embd}});
      }
      return out;
    };
    return a;
  }();
  return kPhi3;
}

}  // namespace ckpt
