// T5ForConditionalGeneration / MT5 / UMT5 (t5-small, flan-t5) -> GGUF "t5", as convert_hf_to_gguf's
// T5Model writes it: an encoder-decoder with relative-position attention biases (the first block's),
// RMS norms, ReLU or gated-GELU (flan-t5's wi_0 / wi_1) feed-forward, the shared embedding written
// once (whichever of shared / encoder.embed_tokens / decoder.embed_tokens comes first), and the
// SentencePiece Unigram vocabulary of spiece.model as tokenizer model "t5". ckpt converts T5 to GGUF;
// it does not run it, and --to hf is refused (no T5 config writer).
#include "formats/architecture.h"

namespace ckpt {
namespace {

std::vector<TensorRule> t5_rules() {
  std::vector<TensorRule> r = {
      {"shared", "token_embd"},
      {"encoder.embed_tokens", "token_embd"},
      {"decoder.embed_tokens", "token_embd"},
      {"lm_head", "output"},
      {"encoder.final_layer_norm", "enc.output_norm"},
      {"decoder.final_layer_norm", "dec.output_norm"},
  };
  const std::vector<TensorRule> blocks = {
      {"encoder.block.{bid}.layer.0.layer_norm", "enc.blk.{bid}.attn_norm"},
      {"encoder.block.{bid}.layer.0.SelfAttention.q", "enc.blk.{bid}.attn_q"},
      {"encoder.block.{bid}.layer.0.SelfAttention.k", "enc.blk.{bid}.attn_k"},
      {"encoder.block.{bid}.layer.0.SelfAttention.v", "enc.blk.{bid}.attn_v"},
      {"encoder.block.{bid}.layer.0.SelfAttention.o", "enc.blk.{bid}.attn_o"},
      {"encoder.block.{bid}.layer.0.SelfAttention.relative_attention_bias", "enc.blk.{bid}.attn_rel_b"},
      {"encoder.block.{bid}.layer.1.layer_norm", "enc.blk.{bid}.ffn_norm"},
      {"encoder.block.{bid}.layer.1.DenseReluDense.wi", "enc.blk.{bid}.ffn_up"},
      {"encoder.block.{bid}.layer.1.DenseReluDense.wi_0", "enc.blk.{bid}.ffn_gate"},
      {"encoder.block.{bid}.layer.1.DenseReluDense.wi_1", "enc.blk.{bid}.ffn_up"},
      {"encoder.block.{bid}.layer.1.DenseReluDense.wo", "enc.blk.{bid}.ffn_down"},
      {"decoder.block.{bid}.layer.0.layer_norm", "dec.blk.{bid}.attn_norm"},
      {"decoder.block.{bid}.layer.0.SelfAttention.q", "dec.blk.{bid}.attn_q"},
      {"decoder.block.{bid}.layer.0.SelfAttention.k", "dec.blk.{bid}.attn_k"},
      {"decoder.block.{bid}.layer.0.SelfAttention.v", "dec.blk.{bid}.attn_v"},
      {"decoder.block.{bid}.layer.0.SelfAttention.o", "dec.blk.{bid}.attn_o"},
      {"decoder.block.{bid}.layer.0.SelfAttention.relative_attention_bias", "dec.blk.{bid}.attn_rel_b"},
      {"decoder.block.{bid}.layer.1.layer_norm", "dec.blk.{bid}.cross_attn_norm"},
      {"decoder.block.{bid}.layer.1.EncDecAttention.q", "dec.blk.{bid}.cross_attn_q"},
      {"decoder.block.{bid}.layer.1.EncDecAttention.k", "dec.blk.{bid}.cross_attn_k"},
      {"decoder.block.{bid}.layer.1.EncDecAttention.v", "dec.blk.{bid}.cross_attn_v"},
      {"decoder.block.{bid}.layer.1.EncDecAttention.o", "dec.blk.{bid}.cross_attn_o"},
      {"decoder.block.{bid}.layer.1.EncDecAttention.relative_attention_bias", "dec.blk.{bid}.cross_attn_rel_b"},
      {"decoder.block.{bid}.layer.2.layer_norm", "dec.blk.{bid}.ffn_norm"},
      {"decoder.block.{bid}.layer.2.DenseReluDense.wi", "dec.blk.{bid}.ffn_up"},
      {"decoder.block.{bid}.layer.2.DenseReluDense.wi_0", "dec.blk.{bid}.ffn_gate"},
      {"decoder.block.{bid}.layer.2.DenseReluDense.wi_1", "dec.blk.{bid}.ffn_up"},
      {"decoder.block.{bid}.layer.2.DenseReluDense.wo", "dec.blk.{bid}.ffn_down"},
  };
  r.insert(r.end(), blocks.begin(), blocks.end());
  return r;
}

}  // namespace

const Architecture& t5_architecture() {
  static const Architecture kT5 = [] {
    Architecture a;
    a.hf_names = {"T5ForConditionalGeneration", "T5WithLMHeadModel", "MT5ForConditionalGeneration", "UMT5ForConditionalGeneration"};
    a.gguf_arch = "t5";
    a.tensors = t5_rules();
    a.first_duplicate_wins = true;  // the shared embedding, saved under up to three names
    a.sentencepiece_vocab = "t5";
    a.runs = false;
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h;
      h.n_layer = c.u64("num_layers");
      h.n_embd = c.u64("d_model");
      h.n_head = c.u64("num_heads");
      h.n_head_kv = h.n_head;
      h.n_vocab = c.u64("vocab_size");
      h.n_ff = c.u64("d_ff");
      h.head_dim = c.u64("d_kv");
      h.n_ctx = c.opt_u64("n_positions").value_or(512);
      const uint64_t dec_layers = c.opt_u64("num_decoder_layers").value_or(h.n_layer);
      const uint64_t buckets = c.u64("relative_attention_num_buckets");
      const double eps = c.f64("layer_norm_epsilon", 1e-6);
      add_u32(kvs, "t5.context_length", h.n_ctx, c, "n_positions");
      add_u32(kvs, "t5.embedding_length", h.n_embd, c, "d_model");
      add_u32(kvs, "t5.feed_forward_length", h.n_ff, c, "d_ff");
      add_u32(kvs, "t5.block_count", h.n_layer, c, "num_layers");
      if (c.has("num_decoder_layers")) add_u32(kvs, "t5.decoder_block_count", dec_layers, c, "num_decoder_layers");
      add_u32(kvs, "t5.attention.head_count", h.n_head, c, "num_heads");
      add_u32(kvs, "t5.attention.key_length", h.head_dim, c, "d_kv");
      add_u32(kvs, "t5.attention.value_length", h.head_dim, c, "d_kv");
      add_f32(kvs, "t5.attention.layer_norm_epsilon", eps);
      add_u32(kvs, "t5.attention.relative_buckets_count", buckets, c, "relative_attention_num_buckets");
      add_f32(kvs, "t5.attention.layer_norm_rms_epsilon", eps);
      add_u32(kvs, "t5.decoder_start_token_id", c.u64("decoder_start_token_id"), c, "decoder_start_token_id");
      h.n_layer_decoder = dec_layers;
      h.n_rel_buckets = buckets;
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) {
      const uint64_t inner = h.n_head * h.head_dim, dec_layers = h.n_layer_decoder, buckets = h.n_rel_buckets;
      std::vector<ExpectedTensor> out = {
          {"token_embd.weight", {h.n_embd, h.n_vocab}},
          {"output.weight", {h.n_embd, h.n_vocab}, false},
          {"enc.output_norm.weight", {h.n_embd}},
          {"dec.output_norm.weight", {h.n_embd}},
      };
      auto attention = [&](const std::string& b, const std::string& kind, bool rel_b) {
        out.push_back({b + kind + "_q.weight", {h.n_embd, inner}});
        out.push_back({b + kind + "_k.weight", {h.n_embd, inner}});
        out.push_back({b + kind + "_v.weight", {h.n_embd, inner}});
        out.push_back({b + kind + "_o.weight", {inner, h.n_embd}});
        out.push_back({b + kind + "_norm.weight", {h.n_embd}});
        out.push_back({b + kind + "_rel_b.weight", {h.n_head, buckets}, rel_b});
      };
      auto ffn = [&](const std::string& b) {
        out.push_back({b + "ffn_norm.weight", {h.n_embd}});
        out.push_back({b + "ffn_gate.weight", {h.n_embd, h.n_ff}, false});  // flan-t5's gated GELU
        out.push_back({b + "ffn_up.weight", {h.n_embd, h.n_ff}});
        out.push_back({b + "ffn_down.weight", {h.n_ff, h.n_embd}});
      };
      for (uint64_t i = 0; i < h.n_layer; ++i) {
        const std::string b = "enc.blk." + std::to_string(i) + ".";
        attention(b, "attn", false);
        ffn(b);
      }
      for (uint64_t i = 0; i < dec_layers; ++i) {
        const std::string b = "dec.blk." + std::to_string(i) + ".";
        attention(b, "attn", false);
        attention(b, "cross_attn", false);
        ffn(b);
      }
      return out;
    };
    return a;
  }();
  return kT5;
}

}  // namespace ckpt
