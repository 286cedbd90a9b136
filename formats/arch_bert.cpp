// BertModel / BertForMaskedLM (klue/bert-base, bge, MiniLM) -> GGUF "bert", as convert_hf_to_gguf's
// BertModel writes it: an encoder (causal_attention false) with learned positions and token types,
// post-LayerNorms, the WordPiece vocabulary in llama.cpp's phantom-space form (tokenizer_meta.cpp),
// sentence-transformers' pooling mode when modules.json names one. The pooler and the masked-LM head
// are dropped (llama.cpp runs BERT for embeddings). ckpt converts BERT; it does not run it.
#include <filesystem>

#include "formats/architecture.h"

namespace ckpt {
namespace {

std::vector<TensorRule> bert_rules(const std::string& p) {
  return {
      {p + "embeddings.word_embeddings", "token_embd"},
      {p + "embeddings.position_embeddings", "position_embd"},
      {p + "embeddings.token_type_embeddings", "token_types"},
      {p + "embeddings.LayerNorm", "token_embd_norm"},
      {p + "encoder.layer.{bid}.attention.self.query", "blk.{bid}.attn_q"},
      {p + "encoder.layer.{bid}.attention.self.key", "blk.{bid}.attn_k"},
      {p + "encoder.layer.{bid}.attention.self.value", "blk.{bid}.attn_v"},
      {p + "encoder.layer.{bid}.attention.output.dense", "blk.{bid}.attn_output"},
      {p + "encoder.layer.{bid}.attention.output.LayerNorm", "blk.{bid}.attn_output_norm"},
      {p + "encoder.layer.{bid}.intermediate.dense", "blk.{bid}.ffn_up"},
      {p + "encoder.layer.{bid}.output.dense", "blk.{bid}.ffn_down"},
      {p + "encoder.layer.{bid}.output.LayerNorm", "blk.{bid}.layer_output_norm"},
  };
}

// sentence-transformers' Pooling module (modules.json -> its config.json), as _try_set_pooling_type
// maps it: mean 1, cls 2, last token 3.
std::optional<uint32_t> pooling_type(const JsonFile& config) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(config.path()).parent_path();
  if (!fs::exists(dir / "modules.json")) return std::nullopt;
  const JsonFile modules = JsonFile::read((dir / "modules.json").string());
  if (!modules.json().is_array()) return std::nullopt;
  for (const auto& m : modules.json()) {
    if (!m.is_object() || !m.value("type", std::string()).ends_with("Pooling") || !m.contains("path") || !m["path"].is_string()) continue;
    const fs::path pooling = dir / m["path"].get<std::string>() / "config.json";
    if (!fs::exists(pooling)) return std::nullopt;
    const JsonFile p = JsonFile::read(pooling.string());
    if (p.boolean("pooling_mode_mean_tokens", false)) return 1;
    if (p.boolean("pooling_mode_cls_token", false)) return 2;
    if (p.boolean("pooling_mode_lasttoken", false)) return 3;
    const std::string mode = p.opt_str("pooling_mode").value_or("");
    if (mode == "mean") return 1;
    if (mode == "cls") return 2;
    if (mode == "lasttoken") return 3;
    p.fail("pooling_mode", "is not a pooling llama.cpp supports (mean, cls, lasttoken)", ErrorCode::Unsupported);
  }
  return std::nullopt;
}

}  // namespace

const Architecture& bert_architecture() {
  static const Architecture kBert = [] {
    Architecture a;
    a.hf_names = {"BertModel", "BertForMaskedLM"};
    a.gguf_arch = "bert";
    a.tensors = bert_rules("");
    const auto prefixed = bert_rules("bert.");  // BertForMaskedLM keeps the encoder under "bert."
    a.tensors.insert(a.tensors.end(), prefixed.begin(), prefixed.end());
    a.skip_suffixes = {"embeddings.position_ids"};
    a.skip_prefixes = {"pooler.", "bert.pooler.", "cls."};
    a.runs = false;
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h;
      h.n_layer = c.u64("num_hidden_layers");
      h.n_embd = c.u64("hidden_size");
      h.n_head = c.u64("num_attention_heads");
      h.n_head_kv = h.n_head;
      h.n_vocab = c.u64("vocab_size");
      h.n_ff = c.u64("intermediate_size");
      h.n_ctx = c.u64("max_position_embeddings");
      if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("num_attention_heads", "must divide hidden_size");
      h.head_dim = h.n_embd / h.n_head;
      add_u32(kvs, "bert.block_count", h.n_layer, c, "num_hidden_layers");
      add_u32(kvs, "bert.context_length", h.n_ctx, c, "max_position_embeddings");
      add_u32(kvs, "bert.embedding_length", h.n_embd, c, "hidden_size");
      add_u32(kvs, "bert.feed_forward_length", h.n_ff, c, "intermediate_size");
      add_u32(kvs, "bert.attention.head_count", h.n_head, c, "num_attention_heads");
      add_f32(kvs, "bert.attention.layer_norm_epsilon", c.f64("layer_norm_eps", 1e-12));
      kvs.push_back({"bert.attention.causal", {false}, 0});
      if (const auto pooling = pooling_type(c)) kvs.push_back({"bert.pooling_type", {*pooling}, 0});
      h.n_token_types = c.opt_u64("type_vocab_size").value_or(1);
      add_u32(kvs, "tokenizer.ggml.token_type_count", h.n_token_types, c, "type_vocab_size");
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) {
      std::vector<ExpectedTensor> out = {
          {"token_embd.weight", {h.n_embd, h.n_vocab}},
          {"position_embd.weight", {h.n_embd, h.n_ctx}},
          {"token_types.weight", {h.n_embd, h.n_token_types}, false},
          {"token_embd_norm.weight", {h.n_embd}},
          {"token_embd_norm.bias", {h.n_embd}},
      };
      for (uint64_t i = 0; i < h.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        for (const char* m : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
          out.push_back({b + m + ".weight", {h.n_embd, h.n_embd}});
          out.push_back({b + m + ".bias", {h.n_embd}});
        }
        for (const char* n : {"attn_output_norm", "layer_output_norm"}) {
          out.push_back({b + n + ".weight", {h.n_embd}});
          out.push_back({b + n + ".bias", {h.n_embd}});
        }
        append_biased_mlp(out, h, b);
      }
      return out;
    };
    return a;
  }();
  return kBert;
}

}  // namespace ckpt
