// Writes a tiny random Qwen2ForCausalLM checkpoint (biases included) with a byte-level BPE tokenizer
// copied from a GPT-2 checkpoint, for the llama.cpp interop test.
// Usage: make_qwen2_checkpoint OUTPUT_DIR GPT2_TOKENIZER_DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "formats/safetensors.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  namespace fs = std::filesystem;
  const fs::path dir(argv[1]), tok(argv[2]);
  fs::create_directories(dir);
  const uint64_t vocab = 50257, hidden = 32, inter = 64, heads = 4, kv_heads = 2, head_dim = hidden / heads;
  std::ofstream(dir / "config.json") << R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 50257,
  "max_position_embeddings": 128, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true,
  "bos_token_id": 50256, "eos_token_id": 50256})";
  fs::copy_file(tok / "tokenizer.json", dir / "tokenizer.json", fs::copy_options::overwrite_existing);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::vector<float>> data;
  data.reserve(64);
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean) {
    uint64_t n = 1;
    for (auto d : shape) n *= d;
    auto& v = data.emplace_back(n);
    for (auto& x : v) x = mean + normal(rng);
    tensors.push_back({name, ckpt::DType::F32, shape, ckpt::write_bytes_from(std::as_bytes(std::span(v)))});
  };
  add("model.embed_tokens.weight", {vocab, hidden}, 0);
  add("model.norm.weight", {hidden}, 1);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {hidden}, 1);
    add(p + "post_attention_layernorm.weight", {hidden}, 1);
    add(p + "self_attn.q_proj.weight", {hidden, hidden}, 0);
    add(p + "self_attn.q_proj.bias", {hidden}, 0);
    add(p + "self_attn.k_proj.weight", {kv_heads * head_dim, hidden}, 0);
    add(p + "self_attn.k_proj.bias", {kv_heads * head_dim}, 0);
    add(p + "self_attn.v_proj.weight", {kv_heads * head_dim, hidden}, 0);
    add(p + "self_attn.v_proj.bias", {kv_heads * head_dim}, 0);
    add(p + "self_attn.o_proj.weight", {hidden, hidden}, 0);
    add(p + "mlp.gate_proj.weight", {inter, hidden}, 0);
    add(p + "mlp.up_proj.weight", {inter, hidden}, 0);
    add(p + "mlp.down_proj.weight", {hidden, inter}, 0);
  }
  ckpt::write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  return 0;
}
