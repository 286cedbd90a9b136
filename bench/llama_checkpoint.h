// The generated ~2 GB bf16 Llama checkpoint the convert and merge benchmarks share (made once per size
// under CKPT_BENCH_DIR, never committed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "formats/byte_sink.h"
#include "formats/safetensors.h"

namespace ckpt::bench {

// A Llama with hidden 2048, intermediate 5632, 16 heads / 4 kv heads: ~90 MB of bf16 per layer.
inline std::filesystem::path ensure_llama_checkpoint(uint64_t total) {
  namespace fs = std::filesystem;
  const fs::path dir = bench_dir() / ("ckpt-bench-llama-" + std::to_string(total));
  if (fs::exists(dir / "model.safetensors")) return dir;
  fs::create_directories(dir);
  const uint64_t hidden = 2048, inter = 5632, kv = 512, vocab = 512;
  const uint64_t per_layer = 2 * (2 * hidden * hidden + 2 * kv * hidden + 3 * hidden * inter);
  const uint64_t layers = std::max<uint64_t>(1, total / per_layer);
  std::ofstream(dir / "config.json") << "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 2048, "
                                        "\"intermediate_size\": 5632, \"num_hidden_layers\": "
                                     << layers
                                     << ", \"num_attention_heads\": 16, \"num_key_value_heads\": 4, \"vocab_size\": 512, "
                                        "\"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-05, \"torch_dtype\": \"bfloat16\"}";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    fs::copy_file(fs::path(CKPT_SOURCE_DIR) / "samples/tiny-llama" / f, dir / f, fs::copy_options::overwrite_existing);
  }
  auto random_bf16 = [](uint64_t n, uint64_t seed) {
    return [n, seed](ckpt::ByteSink& sink) {
      std::vector<uint16_t> buf(n);
      uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
      for (auto& v : buf) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v = static_cast<uint16_t>(0x3C00 + (x & 0x03FF) - 0x200 * ((x >> 10) & 1));  // ~[-0.03, 0.03]-ish bf16
      }
      sink.write(std::as_bytes(std::span(buf)));
    };
  };
  std::vector<ckpt::TensorToWrite> tensors;
  uint64_t seed = 1;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
    uint64_t n = 1;
    for (auto d : shape) n *= d;
    tensors.push_back({name, ckpt::DType::BF16, shape, random_bf16(n, seed++)});
  };
  add("model.embed_tokens.weight", {vocab, hidden});
  add("lm_head.weight", {vocab, hidden});
  add("model.norm.weight", {hidden});
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {hidden});
    add(p + "post_attention_layernorm.weight", {hidden});
    add(p + "self_attn.q_proj.weight", {hidden, hidden});
    add(p + "self_attn.k_proj.weight", {kv, hidden});
    add(p + "self_attn.v_proj.weight", {kv, hidden});
    add(p + "self_attn.o_proj.weight", {hidden, hidden});
    add(p + "mlp.gate_proj.weight", {inter, hidden});
    add(p + "mlp.up_proj.weight", {inter, hidden});
    add(p + "mlp.down_proj.weight", {hidden, inter});
  }
  ckpt::write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  return dir;
}

}  // namespace ckpt::bench
