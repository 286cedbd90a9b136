// LlamaForCausalLM / MistralForCausalLM -> GGUF "llama" (gguf-py tensor_mapping.py, LlamaModel), and
// the llama-style layout other architectures reuse.
#include <cmath>

#include "formats/architecture.h"

namespace ckpt {

std::vector<float> llama3_rope_factors(double rope_theta, uint64_t head_dim, double factor, double low_freq_factor,
                                       double high_freq_factor, double original_context) {
  // torch: freqs = 1 / (base ** (arange(0, dim, 2, float32) / dim)); the Python scalars join each f32
  // operation as f32, so every step below rounds to f32 in the same order.
  const float base = static_cast<float>(rope_theta), f_factor = static_cast<float>(factor);
  const float low = static_cast<float>(low_freq_factor), high = static_cast<float>(high_freq_factor);
  const float old_ctx = static_cast<float>(original_context);
  const float low_wavelen = static_cast<float>(original_context / low_freq_factor);
  const float high_wavelen = static_cast<float>(original_context / high_freq_factor);
  std::vector<float> out;
  for (uint64_t i = 0; i < head_dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(head_dim);
    const float freq = 1.0f / std::pow(base, exponent);
    const float wavelen = static_cast<float>(2.0 * M_PI) / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(f_factor);
    } else {
      const float smooth = (old_ctx / wavelen - low) / (high - low);
      out.push_back(1.0f / ((1.0f - smooth) / f_factor + smooth));
    }
  }
  return out;
}

// rope_scaling / rope_parameters as convert_hf_to_gguf's base class writes them (linear, yarn, longrope;
// dynamic writes nothing; llama3 becomes the rope_freqs tensor).
void write_rope_scaling(const JsonFile& c, std::vector<GgufKv>& kvs, const std::string& arch, ArchHparams& h) {
  auto it = c.json().find("rope_parameters");
  if (it == c.json().end() || !it->is_object()) it = c.json().find("rope_scaling");
  if (it == c.json().end() || !it->is_object()) return;
  const auto& p = it->contains("full_attention") && (*it)["full_attention"].is_object() ? (*it)["full_attention"] : *it;
  auto num = [&](const char* key, double fallback) {
    const auto v = p.find(key);
    if (v == p.end() || v->is_null()) return fallback;
    if (!v->is_number() || !std::isfinite(v->get<double>())) c.fail("rope_scaling", std::string("'") + key + "' is not a finite number");
    return v->get<double>();
  };
  const std::string type = p.value("rope_type", p.value("type", std::string()));
  const bool has_factor = p.contains("factor") && !p["factor"].is_null();
  if (type == "linear" && has_factor) {
    kvs.push_back({arch + ".rope.scaling.type", {std::string("linear")}, 0});
    add_f32(kvs, arch + ".rope.scaling.factor", num("factor", 1.0));
  } else if (type == "yarn" && has_factor) {
    kvs.push_back({arch + ".rope.scaling.type", {std::string("yarn")}, 0});
    add_f32(kvs, arch + ".rope.scaling.factor", num("factor", 1.0));
    const auto orig = p.find("original_max_position_embeddings");
    if (orig == p.end() || !orig->is_number_unsigned()) c.fail("rope_scaling", "yarn needs original_max_position_embeddings");
    add_u32(kvs, arch + ".rope.scaling.original_context_length", orig->get<uint64_t>(), c, "rope_scaling");
    if (p.contains("extrapolation_factor")) add_f32(kvs, arch + ".rope.scaling.yarn_ext_factor", num("extrapolation_factor", 1.0));
    if (p.contains("attention_factor") || p.contains("attn_factor")) {
      add_f32(kvs, arch + ".rope.scaling.yarn_attn_factor", p.contains("attention_factor") ? num("attention_factor", 1.0) : num("attn_factor", 1.0));
    }
    if (p.contains("beta_fast")) add_f32(kvs, arch + ".rope.scaling.yarn_beta_fast", num("beta_fast", 32.0));
    if (p.contains("beta_slow")) add_f32(kvs, arch + ".rope.scaling.yarn_beta_slow", num("beta_slow", 1.0));
  } else if (type == "su" || type == "longrope") {
    kvs.push_back({arch + ".rope.scaling.type", {std::string("longrope")}, 0});
  } else if (type == "llama3") {
    const double theta = p.contains("rope_theta") ? num("rope_theta", 10000.0) : c.f64("rope_theta", 10000.0);
    h.rope_freqs = llama3_rope_factors(theta, h.head_dim, num("factor", 8.0), num("low_freq_factor", 1.0), num("high_freq_factor", 4.0),
                                       num("original_max_position_embeddings", 8192.0));
  } else if (!type.empty() && type != "default" && type != "dynamic") {
    c.fail("rope_scaling", "rope scaling '" + type + "' is not converted yet", ErrorCode::Unsupported);
  }
}

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

void append_llama_layer_matrices(std::vector<ExpectedTensor>& out, const ArchHparams& h, const std::string& b) {
  const uint64_t q = h.n_head * h.head_dim, kv = h.n_head_kv * h.head_dim;
  const std::vector<ExpectedTensor> layer = {
      {b + "attn_q.weight", {h.n_embd, q}},         {b + "attn_k.weight", {h.n_embd, kv}},
      {b + "attn_v.weight", {h.n_embd, kv}},        {b + "attn_output.weight", {q, h.n_embd}},
      {b + "ffn_gate.weight", {h.n_embd, h.n_ff}},  {b + "ffn_up.weight", {h.n_embd, h.n_ff}},
      {b + "ffn_down.weight", {h.n_ff, h.n_embd}},
  };
  out.insert(out.end(), layer.begin(), layer.end());
}

std::vector<ExpectedTensor> llama_style_expected_tensors(const ArchHparams& h, bool qkv_bias_required) {
  const uint64_t q = h.n_head * h.head_dim, kv = h.n_head_kv * h.head_dim;
  std::vector<ExpectedTensor> out = {
      {"token_embd.weight", {h.n_embd, h.n_vocab}},
      {"output_norm.weight", {h.n_embd}},
      {"output.weight", {h.n_embd, h.n_vocab}, false},  // absent when tied to the embedding
      {"rope_freqs.weight", {h.head_dim / 2}, false},   // llama3 rope scaling
  };
  for (uint64_t i = 0; i < h.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    out.push_back({b + "attn_norm.weight", {h.n_embd}});
    append_llama_layer_matrices(out, h, b);
    const std::vector<ExpectedTensor> layer = {
        {b + "ffn_norm.weight", {h.n_embd}},
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
  write_rope_scaling(c, kvs, arch, h);
  // convert_hf_to_gguf: an explicit head_dim (Qwen3, Mistral-Nemo: not hidden / heads) sets the key and
  // value lengths llama.cpp sizes attention with.
  if (c.has("head_dim")) {
    add_u32(kvs, arch + ".attention.key_length", head_dim, c, "head_dim");
    add_u32(kvs, arch + ".attention.value_length", head_dim, c, "head_dim");
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
