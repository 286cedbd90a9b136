#include "runtime/model_assemble.h"

#include <fmt/format.h>

#include "formats/error.h"
#include "quantize/quantize.h"

namespace ckpt::runtime {
namespace {

struct Assembler {
  Model& model;
  const TensorLookup& lookup;

  [[noreturn]] void fail(const FoundTensor& t, const std::string& why) const {
    throw Error(ErrorCode::BadShape, t.file, t.offset, t.weight.name, why);
  }

  std::optional<FoundTensor> find(const std::string& name) const { return lookup(name); }

  FoundTensor require(const std::string& name) const {
    auto t = find(name);
    if (!t) throw Error(ErrorCode::NotFound, model.path, Error::kNoOffset, name, "tensor the forward pass needs is missing");
    return *t;
  }

  Weight matrix(const FoundTensor& t, uint64_t cols, uint64_t rows) const {
    if (t.ne.size() != 2 || t.ne[0] != cols || t.ne[1] != rows) {
      fail(t, fmt::format("expected shape [{}, {}] (ggml order), found [{}]", cols, rows, fmt::join(t.ne, ", ")));
    }
    if (!t.weight.bnb4 && !can_dequantize_from(t.weight.dtype)) {
      throw Error(ErrorCode::Unsupported, t.file, t.offset, t.weight.name,
                  fmt::format("weight type {} has no kernel here", dtype_name(t.weight.dtype)));
    }
    return t.weight;
  }
  Weight matrix(const std::string& name, uint64_t cols, uint64_t rows) const { return matrix(require(name), cols, rows); }
  Weight optional_matrix(const std::string& name, uint64_t cols, uint64_t rows) const {
    const auto t = find(name);
    return t ? matrix(*t, cols, rows) : Weight{};
  }

  std::vector<float> vec(const FoundTensor& t, uint64_t n) const {
    uint64_t count = 1;
    for (auto d : t.ne) count *= d;
    if (count != n || t.weight.bnb4) fail(t, fmt::format("expected {} values", n));
    if (!can_dequantize_from(t.weight.dtype)) fail(t, fmt::format("type {} cannot be read as floats", dtype_name(t.weight.dtype)));
    std::vector<float> out(n);
    decode_to_f32(t.weight.dtype, {t.weight.data, t.weight.bytes()}, out);
    return out;
  }
  std::vector<float> vec(const std::string& name, uint64_t n) const { return vec(require(name), n); }
  std::vector<float> optional_vec(const std::string& name, uint64_t n) const {
    const auto t = find(name);
    return t ? vec(*t, n) : std::vector<float>{};
  }
};

}  // namespace

void assemble_model(Model& model, const TensorLookup& lookup) {
  Hparams& hp = model.hp;
  Assembler a{model, lookup};
  const auto embd = a.require("token_embd.weight");
  if (embd.ne.size() != 2 || embd.ne[0] != hp.n_embd || embd.ne[1] == 0 || embd.ne[1] > INT32_MAX) {
    a.fail(embd, fmt::format("expected [{}, n_vocab]", hp.n_embd));
  }
  hp.n_vocab = static_cast<uint32_t>(embd.ne[1]);
  model.tok_embd = a.matrix(embd, hp.n_embd, hp.n_vocab);
  model.output = a.optional_matrix("output.weight", hp.n_embd, hp.n_vocab);
  if (!model.output.present()) model.output = model.tok_embd;
  model.output_norm = a.vec("output_norm.weight", hp.n_embd);
  if (!model.vocab.tokens.empty() && model.vocab.tokens.size() != hp.n_vocab) {
    throw Error(ErrorCode::BadShape, embd.file, embd.offset, "token_embd.weight",
                fmt::format("{} rows but the tokenizer has {} tokens", hp.n_vocab, model.vocab.tokens.size()));
  }

  const uint64_t q_dim = uint64_t{hp.n_head} * hp.head_dim, kv_dim = uint64_t{hp.n_head_kv} * hp.head_dim;
  if (hp.layer_norm) model.output_norm_b = a.vec("output_norm.bias", hp.n_embd);
  if (hp.arch == Arch::Gpt2) {
    const auto pos = a.require("position_embd.weight");
    if (pos.ne.size() != 2 || pos.ne[0] != hp.n_embd || pos.ne[1] == 0) a.fail(pos, fmt::format("expected [{}, n_ctx]", hp.n_embd));
    model.pos_embd = a.matrix(pos, hp.n_embd, pos.ne[1]);
    hp.n_ctx_train = static_cast<uint32_t>(std::min<uint64_t>(pos.ne[1], UINT32_MAX));
  } else {
    if (const auto freqs = a.find("rope_freqs.weight")) model.rope_freq_factors = a.vec(*freqs, hp.rope_dims / 2);
    model.rope_factors_long = a.optional_vec("rope_factors_long.weight", hp.rope_dims / 2);
    model.rope_factors_short = a.optional_vec("rope_factors_short.weight", hp.rope_dims / 2);
  }

  model.layers.resize(hp.n_layer);
  for (uint32_t i = 0; i < hp.n_layer; ++i) {
    Layer& l = model.layers[i];
    const std::string p = fmt::format("blk.{}.", i);
    if (hp.arch != Arch::Exaone4) {
      l.attn_norm = a.vec(p + "attn_norm.weight", hp.n_embd);
      l.ffn_norm = a.vec(p + "ffn_norm.weight", hp.n_embd);
    }
    l.wo = a.matrix(p + "attn_output.weight", q_dim, hp.n_embd);
    if (hp.arch != Arch::Phi3) l.w_up = a.matrix(p + "ffn_up.weight", hp.n_embd, hp.n_ff);
    l.w_down = a.matrix(p + "ffn_down.weight", hp.n_ff, hp.n_embd);
    if (hp.layer_norm) {  // GPT-2, GPT-NeoX
      l.attn_norm_b = a.vec(p + "attn_norm.bias", hp.n_embd);
      l.ffn_norm_b = a.vec(p + "ffn_norm.bias", hp.n_embd);
      l.wqkv = a.matrix(p + "attn_qkv.weight", hp.n_embd, q_dim + 2 * kv_dim);
      l.bqkv = a.vec(p + "attn_qkv.bias", q_dim + 2 * kv_dim);
      l.bo = a.vec(p + "attn_output.bias", hp.n_embd);
      l.b_up = a.vec(p + "ffn_up.bias", hp.n_ff);
      l.b_down = a.vec(p + "ffn_down.bias", hp.n_embd);
    } else if (hp.arch == Arch::Phi3) {  // fused q/k/v and gate/up, as llama.cpp keeps them
      l.wqkv = a.matrix(p + "attn_qkv.weight", hp.n_embd, q_dim + 2 * kv_dim);
      l.w_up = a.matrix(p + "ffn_up.weight", hp.n_embd, 2 * uint64_t{hp.n_ff});
    } else {
      l.wq = a.matrix(p + "attn_q.weight", hp.n_embd, q_dim);
      l.wk = a.matrix(p + "attn_k.weight", hp.n_embd, kv_dim);
      l.wv = a.matrix(p + "attn_v.weight", hp.n_embd, kv_dim);
      l.w_gate = a.matrix(p + "ffn_gate.weight", hp.n_embd, hp.n_ff);
      if (hp.arch == Arch::Qwen3 || hp.arch == Arch::Gemma3 || hp.arch == Arch::Exaone4) {
        l.attn_q_norm = a.vec(p + "attn_q_norm.weight", hp.head_dim);
        l.attn_k_norm = a.vec(p + "attn_k_norm.weight", hp.head_dim);
      }
      if (hp.arch == Arch::Gemma2 || hp.arch == Arch::Gemma3 || hp.arch == Arch::Exaone4) {
        l.attn_post_norm = a.vec(p + "post_attention_norm.weight", hp.n_embd);
        l.ffn_post_norm = a.vec(p + "post_ffw_norm.weight", hp.n_embd);
      }
      l.bq = a.optional_vec(p + "attn_q.bias", q_dim);
      l.bk = a.optional_vec(p + "attn_k.bias", kv_dim);
      l.bv = a.optional_vec(p + "attn_v.bias", kv_dim);
    }
  }
}

std::string Weight::type_name() const {
  return bnb4 ? std::string(bnb4_fp4 ? "FP4" : "NF4") : std::string(dtype_name(dtype));
}

uint64_t Model::weight_bytes() const {
  uint64_t total = output.bytes();
  for (const auto& l : layers) {
    for (const Weight* w : {&l.wq, &l.wk, &l.wv, &l.wqkv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      total += w->bytes() + w->bnb4_absmax.size_bytes();
    }
  }
  return total;
}

}  // namespace ckpt::runtime
