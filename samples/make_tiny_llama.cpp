// Writes samples/tiny-llama: a tiny LlamaForCausalLM checkpoint in the exact layout transformers
// saves (config.json, generation_config.json, model.safetensors in bf16 with {"format": "pt"}) and a
// Llama-2-style tokenizer (tokenizer.json: BPE with byte fallback over U+2581-marked words, plus
// tokenizer_config.json). The tokenizer's merges are learned here from the small corpus below.
//
// The weights come from integer-only arithmetic (splitmix64 + an Irwin-Hall normal), so the bytes are
// identical on every machine and compiler: no libm calls, one IEEE rounding to f32, one to bf16.
// Usage: make_tiny_llama OUTPUT_DIR
//        make_tiny_llama --lora OUTPUT_DIR   samples/tiny-llama-lora: a PEFT LoRA adapter for it (rsLoRA,
//        r 8 with a rank pattern giving o_proj r 4, on q/k/v/o of both layers, B non-zero as if trained),
//        in the files PEFT's save_pretrained writes.
#include <algorithm>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/safetensors.h"
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

constexpr const char* kCorpus =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
    "One day, she saw a big red ball under a tree. She wanted to play with it, but it was too high. "
    "Her friend Tom came to help. Tom was tall and kind. He took the ball down and gave it to Lily. "
    "Lily was happy and said thank you. They played with the ball all day. The sun was warm and the "
    "sky was blue. A little dog ran to them and wanted to play too. The dog was brown and very fast. "
    "They ran and laughed until it was time to go home. At home, mom made a nice cake. Lily and Tom "
    "ate the cake and talked about the ball, the dog and the tree. Then they went to sleep and had "
    "good dreams about the park. The next day, they went back to the park to play again.";

constexpr const char* kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's word marker

// Learns BPE merges over the corpus' words (each starting with U+2581) until the vocabulary is full.
struct LearnedBpe {
  std::vector<std::string> alphabet;
  std::vector<std::pair<std::string, std::string>> merges;
};

LearnedBpe learn_bpe(size_t n_learned_tokens) {
  std::map<std::vector<std::string>, int> words;  // symbols -> count
  std::string text = kCorpus;
  size_t pos = 0;
  std::set<std::string> alphabet;
  while (pos < text.size()) {
    size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    std::vector<std::string> symbols = {kSpace};
    alphabet.insert(kSpace);
    for (size_t i = pos; i < end; ++i) {
      symbols.emplace_back(1, text[i]);
      alphabet.insert(symbols.back());
    }
    ++words[symbols];
    pos = end + 1;
  }
  LearnedBpe bpe;
  bpe.alphabet.assign(alphabet.begin(), alphabet.end());
  while (bpe.alphabet.size() + bpe.merges.size() < n_learned_tokens) {
    std::map<std::pair<std::string, std::string>, int> pairs;  // ordered: ties go to the smallest pair
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) pairs[{symbols[i], symbols[i + 1]}] += count;
    }
    if (pairs.empty()) break;
    auto best = pairs.begin();
    for (auto it = pairs.begin(); it != pairs.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const auto merge = best->first;
    bpe.merges.push_back(merge);
    std::map<std::vector<std::string>, int> merged;
    for (const auto& [symbols, count] : words) {
      std::vector<std::string> out;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == merge.first && symbols[i + 1] == merge.second) {
          out.push_back(merge.first + merge.second);
          ++i;
        } else {
          out.push_back(symbols[i]);
        }
      }
      merged[out] += count;
    }
    words = std::move(merged);
  }
  return bpe;
}

nlohmann::ordered_json make_tokenizer_json(uint64_t vocab_size) {
  const uint64_t n_fixed = 3 + 256;  // <unk> <s> </s> + byte fallback tokens
  const LearnedBpe bpe = learn_bpe(vocab_size - n_fixed);
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  vocab["<unk>"] = 0;
  vocab["<s>"] = 1;
  vocab["</s>"] = 2;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  uint64_t next = n_fixed;
  for (const auto& a : bpe.alphabet) vocab[a] = next++;
  nlohmann::ordered_json merges = nlohmann::ordered_json::array();
  for (const auto& [l, r] : bpe.merges) {
    vocab[l + r] = next++;
    merges.push_back(l + " " + r);
  }
  auto special = [](int id, const char* content) {
    return nlohmann::ordered_json{{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
                                  {"rstrip", false}, {"normalized", false}, {"special", true}};
  };
  return {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", {special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers", {{{"type", "Prepend"}, {"prepend", kSpace}},
                         {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                  {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}}, {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                      {{"type", "ByteFallback"}},
                      {{"type", "Fuse"}},
                      {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}, {"vocab", vocab},
        {"merges", merges}}},
  };
}

void write_text(const std::filesystem::path& path, const std::string& text) { ckpt::write_text_file(path.string(), text); }

}  // namespace

// f32 bytes of `n` values drawn as std * N(0, 1).
std::vector<std::byte> f32_normal(SplitMix64& rng, uint64_t n, float std) {
  std::vector<std::byte> out(n * 4);
  for (uint64_t i = 0; i < n; ++i) {
    const float v = std * rng.normal();
    std::memcpy(out.data() + 4 * i, &v, 4);
  }
  return out;
}

int write_lora(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const TinyLlamaConfig c;
  const uint64_t kv_dim = c.num_key_value_heads * (c.hidden_size / c.num_attention_heads);
  SplitMix64 rng(0x6C6F7261);  // "lora"
  std::vector<std::vector<std::byte>> storage;
  std::vector<ckpt::TensorToWrite> tensors;
  storage.reserve(8 * c.num_hidden_layers);
  for (uint64_t i = 0; i < c.num_hidden_layers; ++i) {
    for (const char* m : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
      const std::string p = "base_model.model.model.layers." + std::to_string(i) + ".self_attn." + m;
      const uint64_t out = std::string(m) == "k_proj" || std::string(m) == "v_proj" ? kv_dim : c.hidden_size;
      const uint64_t r = std::string(m) == "o_proj" ? 4 : 8;
      // A as PEFT initializes it (bound 1/sqrt(in); a normal of that scale here), B as training leaves it.
      storage.push_back(f32_normal(rng, r * c.hidden_size, 0.125f));
      tensors.push_back({p + ".lora_A.weight", ckpt::DType::F32, {r, c.hidden_size}, ckpt::write_bytes_from(storage.back())});
      storage.push_back(f32_normal(rng, out * r, 0.05f));
      tensors.push_back({p + ".lora_B.weight", ckpt::DType::F32, {out, r}, ckpt::write_bytes_from(storage.back())});
    }
  }
  ckpt::write_safetensors((dir / "adapter_model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  // PEFT's save_pretrained: json.dumps(config.to_dict(), indent=2, sort_keys=True).
  const nlohmann::json config = {
      {"alpha_pattern", nlohmann::json::object()}, {"auto_mapping", nullptr}, {"base_model_name_or_path", "samples/tiny-llama"},
      {"bias", "none"}, {"fan_in_fan_out", false}, {"inference_mode", true}, {"init_lora_weights", true},
      {"layer_replication", nullptr}, {"layers_pattern", nullptr}, {"layers_to_transform", nullptr}, {"lora_alpha", 16},
      {"lora_bias", false}, {"lora_dropout", 0.05}, {"modules_to_save", nullptr}, {"peft_type", "LORA"}, {"r", 8},
      {"rank_pattern", {{"o_proj", 4}}}, {"revision", nullptr}, {"target_modules", {"k_proj", "o_proj", "q_proj", "v_proj"}},
      {"task_type", "CAUSAL_LM"}, {"use_dora", false}, {"use_rslora", true}};
  write_text(dir / "adapter_config.json", config.dump(2));
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--lora") return write_lora(argv[2]);
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
  const nlohmann::ordered_json tokenizer_config = {
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"},
      {"unk_token", "<unk>"},
      {"chat_template",
       "{% for message in messages %}{{ '<s>' + message['role'] + ': ' + message['content'] + '</s>' }}{% endfor %}"
       "{% if add_generation_prompt %}{{ '<s>assistant: ' }}{% endif %}"},
      {"model_max_length", c.max_position_embeddings},
      {"tokenizer_class", "LlamaTokenizer"},
  };
  try {
    write_text(dir / "config.json", config.dump(2) + "\n");
    write_text(dir / "generation_config.json", generation.dump(2) + "\n");
    write_text(dir / "tokenizer.json", make_tokenizer_json(c.vocab_size).dump(2) + "\n");
    write_text(dir / "tokenizer_config.json", tokenizer_config.dump(2) + "\n");
    ckpt::write_safetensors_sharded(dir.string(), std::move(tensors), ckpt::parse_shard_size("5GB"), {{"format", "pt"}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_tiny_llama: %s\n", e.what());
    return 1;
  }
  return 0;
}
