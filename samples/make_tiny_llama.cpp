// Writes samples/tiny-llama: a tiny LlamaForCausalLM checkpoint in the exact layout transformers
// saves (config.json, generation_config.json, model.safetensors in bf16 with {"format": "pt"}).
//
// The weights come from integer-only arithmetic (splitmix64 + an Irwin-Hall normal), so the bytes are
// identical on every machine and compiler: no libm calls, one IEEE rounding to f32, one to bf16.
// Usage: make_tiny_llama OUTPUT_DIR
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/safetensors_index.h"

namespace {

struct TinyLlamaConfig {
  uint64_t vocab_size = 512;
  uint64_t hidden_size = 64;
  uint64_t intermediate_size = 192;
  uint64_t num_hidden_layers = 2;
  uint64_t num_attention_heads = 4;
  uint64_t num_key_value_heads = 2;
  uint64_t max_position_embeddings = 256;
};

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Approximately N(0, 1): the sum of 12 uniforms minus 6, in exact integer arithmetic.
  float normal() {
    int64_t sum = 0;
    for (int i = 0; i < 12; ++i) sum += static_cast<int64_t>(next() >> 40);  // 24-bit uniforms
    return static_cast<float>(sum - 6 * (int64_t{1} << 24)) / static_cast<float>(int64_t{1} << 24);
  }

 private:
  uint64_t state_;
};

// bf16 bytes of `n` values drawn as mean + std * N(0, 1).
std::vector<std::byte> bf16_normal(SplitMix64& rng, uint64_t n, float mean, float std) {
  std::vector<std::byte> out(n * 2);
  for (uint64_t i = 0; i < n; ++i) {
    const uint16_t b = ckpt::f32_to_bf16(mean + std * rng.normal());
    out[2 * i] = static_cast<std::byte>(b & 0xFF);
    out[2 * i + 1] = static_cast<std::byte>(b >> 8);
  }
  return out;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  ckpt::AtomicFileSink sink(path.string());
  sink.write_text(text);
  sink.commit();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_tiny_llama OUTPUT_DIR\n");
    return 2;
  }
  const std::filesystem::path dir(argv[1]);
  std::filesystem::create_directories(dir);
  const TinyLlamaConfig c;
  const uint64_t head_dim = c.hidden_size / c.num_attention_heads;
  const uint64_t kv_dim = c.num_key_value_heads * head_dim;

  SplitMix64 rng(0x636B7074);  // "ckpt"
  std::vector<std::vector<std::byte>> storage;
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean, float std) {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    storage.push_back(bf16_normal(rng, n, mean, std));
    tensors.push_back({name, ckpt::DType::BF16, std::move(shape), ckpt::write_bytes_from(storage.back())});
  };
  storage.reserve(4 + 9 * c.num_hidden_layers);  // spans into storage must stay valid
  add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}, 0.0f, 0.02f);
  for (uint64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {c.hidden_size}, 1.0f, 0.05f);
    add(p + "self_attn.q_proj.weight", {c.hidden_size, c.hidden_size}, 0.0f, 0.02f);
    add(p + "self_attn.k_proj.weight", {kv_dim, c.hidden_size}, 0.0f, 0.02f);
    add(p + "self_attn.v_proj.weight", {kv_dim, c.hidden_size}, 0.0f, 0.02f);
    add(p + "self_attn.o_proj.weight", {c.hidden_size, c.hidden_size}, 0.0f, 0.02f);
    add(p + "post_attention_layernorm.weight", {c.hidden_size}, 1.0f, 0.05f);
    add(p + "mlp.gate_proj.weight", {c.intermediate_size, c.hidden_size}, 0.0f, 0.02f);
    add(p + "mlp.up_proj.weight", {c.intermediate_size, c.hidden_size}, 0.0f, 0.02f);
    add(p + "mlp.down_proj.weight", {c.hidden_size, c.intermediate_size}, 0.0f, 0.02f);
  }
  add("model.norm.weight", {c.hidden_size}, 1.0f, 0.05f);
  add("lm_head.weight", {c.vocab_size, c.hidden_size}, 0.0f, 0.02f);

  const nlohmann::ordered_json config = {
      {"architectures", {"LlamaForCausalLM"}},
      {"attention_bias", false},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"hidden_act", "silu"},
      {"hidden_size", c.hidden_size},
      {"initializer_range", 0.02},
      {"intermediate_size", c.intermediate_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"model_type", "llama"},
      {"num_attention_heads", c.num_attention_heads},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_key_value_heads", c.num_key_value_heads},
      {"rms_norm_eps", 1e-05},
      {"rope_theta", 10000.0},
      {"tie_word_embeddings", false},
      {"torch_dtype", "bfloat16"},
      {"vocab_size", c.vocab_size},
  };
  const nlohmann::ordered_json generation = {{"bos_token_id", 1}, {"eos_token_id", 2}};
  try {
    write_text(dir / "config.json", config.dump(2) + "\n");
    write_text(dir / "generation_config.json", generation.dump(2) + "\n");
    ckpt::write_safetensors_sharded(dir.string(), std::move(tensors), ckpt::parse_shard_size("5GB"), {{"format", "pt"}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_tiny_llama: %s\n", e.what());
    return 1;
  }
  return 0;
}
