// GPT2LMHeadModel -> GGUF "gpt2": Conv1D weights transposed, lm_head tied to wte (written as a copy).
#include "formats/architecture.h"

namespace ckpt {

const Architecture& gpt2_architecture() {
  static const Architecture kGpt2 = [] {
    Architecture a;
    a.hf_names = {"GPT2LMHeadModel"};
    a.gguf_arch = "gpt2";
    // Checkpoints saved from GPT2Model lack the "transformer." prefix; both spellings map.
    for (const std::string prefix : {"transformer.", ""}) {
      const std::vector<TensorRule> rules = {
          {prefix + "wte", "token_embd"},
          {prefix + "wpe", "position_embd"},
          {prefix + "ln_f", "output_norm"},
          {prefix + "h.{bid}.ln_1", "blk.{bid}.attn_norm"},
          {prefix + "h.{bid}.attn.c_attn", "blk.{bid}.attn_qkv", TensorOp::Transpose, true},
          {prefix + "h.{bid}.attn.c_proj", "blk.{bid}.attn_output", TensorOp::Transpose, true},
          {prefix + "h.{bid}.ln_2", "blk.{bid}.ffn_norm"},
          {prefix + "h.{bid}.mlp.c_fc", "blk.{bid}.ffn_up", TensorOp::Transpose, true},
          {prefix + "h.{bid}.mlp.c_proj", "blk.{bid}.ffn_down", TensorOp::Transpose, true},
      };
      a.tensors.insert(a.tensors.end(), rules.begin(), rules.end());
    }
    a.tensors.push_back({"lm_head", "output"});
    a.skip_suffixes = {".attn.bias", ".attn.masked_bias"};
    a.duplicate_embedding_as_output = true;
    a.write_hparams = [](const JsonFile& c, std::vector<GgufKv>& kvs) {
      ArchHparams h;
      h.n_layer = c.u64("n_layer");
      h.n_embd = c.u64("n_embd");
      h.n_head = c.u64("n_head");
      h.n_head_kv = h.n_head;
      h.n_vocab = c.u64("vocab_size");
      if (h.n_head == 0 || h.n_embd % h.n_head != 0) c.fail("n_head", "must divide n_embd");
      // wpe has n_positions rows; n_ctx (older configs) only names the context used in training.
      h.n_ctx = c.opt_u64("n_positions").value_or(c.opt_u64("n_ctx").value_or(1024));
      h.n_ff = c.opt_u64("n_inner").value_or(4 * h.n_embd);
      h.head_dim = h.n_embd / h.n_head;
      add_u32(kvs, "gpt2.block_count", h.n_layer, c, "n_layer");
      add_u32(kvs, "gpt2.context_length", c.opt_u64("n_ctx").value_or(c.u64("n_positions")), c, "n_ctx");
      add_u32(kvs, "gpt2.embedding_length", h.n_embd, c, "n_embd");
      add_u32(kvs, "gpt2.feed_forward_length", h.n_ff, c, "n_inner");
      add_u32(kvs, "gpt2.attention.head_count", h.n_head, c, "n_head");
      add_f32(kvs, "gpt2.attention.layer_norm_epsilon", c.f64("layer_norm_epsilon", 1e-5));
      return h;
    };
    a.expected_tensors = [](const ArchHparams& h) {
      std::vector<ExpectedTensor> out = {
          {"token_embd.weight", {h.n_embd, h.n_vocab}}, {"position_embd.weight", {h.n_embd, h.n_ctx}},
          {"output_norm.weight", {h.n_embd}},           {"output_norm.bias", {h.n_embd}},
          {"output.weight", {h.n_embd, h.n_vocab}, false},
      };
      for (uint64_t i = 0; i < h.n_layer; ++i) {
        const std::string b = "blk." + std::to_string(i) + ".";
        const std::vector<ExpectedTensor> layer = {
            {b + "attn_norm.weight", {h.n_embd}},          {b + "attn_norm.bias", {h.n_embd}},
            {b + "attn_qkv.weight", {h.n_embd, 3 * h.n_embd}}, {b + "attn_qkv.bias", {3 * h.n_embd}},
            {b + "attn_output.weight", {h.n_embd, h.n_embd}},  {b + "attn_output.bias", {h.n_embd}},
            {b + "ffn_norm.weight", {h.n_embd}},           {b + "ffn_norm.bias", {h.n_embd}},
            {b + "ffn_up.weight", {h.n_embd, h.n_ff}},     {b + "ffn_up.bias", {h.n_ff}},
            {b + "ffn_down.weight", {h.n_ff, h.n_embd}},   {b + "ffn_down.bias", {h.n_embd}},
        };
        out.insert(out.end(), layer.begin(), layer.end());
      }
      return out;
    };
    return a;
  }();
  return kGpt2;
}

}  // namespace ckpt
