// Writes a small random HF checkpoint (or a PEFT adapter for one) for the llama.cpp interop tests
// (never committed).
// Usage: make_test_checkpoint ARCH OUT_DIR TOKENIZER_DIR HIDDEN INTERMEDIATE LAYERS HEADS KV_HEADS VOCAB
//   ARCH: llama (no biases), llama3 (Llama 3.2 style: rope_scaling llama3, tied embeddings), qwen2
//   (q/k/v biases, tied embeddings), qwen2-yarn (Qwen2.5 with YaRN) or qwen3 (q/k norms, head_dim
//   twice hidden / heads, tied), mistral-nemo (llama with head_dim twice hidden / heads) or phi3 (fused
//   qkv_proj and gate_up_proj), gemma2 / gemma3 (norms stored as w with RMSNorm scaling by 1 + w,
//   post-attention and pre/post feed-forward norms, soft-capping, a sliding window of 6 so a short
//   generation crosses it; gemma3 adds q/k norms, a local rope base and a padded embedding). The
//   tokenizer files are copied. gptneox / gptneox-serial: GPT-NeoX with and without parallel residual;
//   exaone (3.5) / exaone4 (4.0; 64 layers: the 32B's sliding-window layout); phi3-longrope (128k's
//   long/short rope factors).
//        make_test_checkpoint bert OUT_DIR
//   A tiny BertForMaskedLM with its own WordPiece tokenizer.json.
//        make_test_checkpoint t5 OUT_DIR
//   A tiny T5ForConditionalGeneration with its own Unigram spiece.model.
//        make_test_checkpoint lora OUT_DIR BASE_DIR plain|rslora
//   A PEFT adapter on every projection and lm_head of BASE_DIR; rslora adds use_rslora and rank/alpha
//   patterns. lm_head's delta is large, so greedy picks have clear margins even on a random base.
//        make_test_checkpoint imatrix MODEL.gguf OUT gguf|legacy|gguf-full
//   An importance matrix for every 2-D weight of MODEL as llama-imatrix writes it (GGUF: NAME.in_sum2 and
//   NAME.counts, imatrix.* keys; legacy: the .dat layout), random positive statistics, a few columns 0,
//   the ffn_up tensors left out (quantized without an entry) unless gguf-full.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <random>
#include <string>

#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "formats/model_source.h"
#include "formats/safetensors.h"
#include "tests/support/bert_fixture.h"
#include "tests/support/t5_fixture.h"

namespace {

// The tokenizer files of `tok` that exist, copied beside the checkpoint.
void copy_tokenizer(const std::filesystem::path& tok, const std::filesystem::path& dir) {
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "tokenizer.model"}) {
    if (std::filesystem::exists(tok / f)) std::filesystem::copy_file(tok / f, dir / f, std::filesystem::copy_options::overwrite_existing);
  }
}

int write_lora(const std::string& out, const std::string& base, const std::string& kind) {
  namespace fs = std::filesystem;
  const ckpt::ModelSource src = ckpt::open_model_source(base);
  const bool rs = kind == "rslora";
  fs::create_directories(out);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> data;
  data.reserve(src.tensors.size() * 2);
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float sd) {
    auto& v = data.emplace_back(shape[0] * shape[1]);
    for (auto& x : v) x = sd * normal(rng);
    tensors.push_back({name, ckpt::DType::F32, shape, ckpt::write_bytes_from(std::as_bytes(std::span(v)))});
  };
  for (const auto& t : src.tensors) {
    const bool head = t.name == "lm_head.weight";
    if (t.shape.size() != 2 || (!head && t.name.find("_proj.weight") == std::string::npos)) continue;
    const std::string m = "base_model.model." + t.name.substr(0, t.name.size() - 7);
    const uint64_t r = rs && t.name.find("v_proj") != std::string::npos ? 4 : 8;
    add(m + ".lora_A.weight", {r, t.shape[1]}, 1.0f / std::sqrt(static_cast<float>(t.shape[1])));
    add(m + ".lora_B.weight", {t.shape[0], r}, head ? 1.0f : 0.02f);
  }
  ckpt::write_safetensors(out + "/adapter_model.safetensors", std::move(tensors), {{"format", "pt"}});
  std::ofstream(out + "/adapter_config.json")
      << "{\"peft_type\": \"LORA\", \"r\": 8, \"lora_alpha\": 16, \"use_rslora\": " << (rs ? "true" : "false")
      << ", \"rank_pattern\": " << (rs ? "{\"v_proj\": 4}" : "{}") << ", \"alpha_pattern\": " << (rs ? "{\"o_proj\": 4}" : "{}")
      << ", \"target_modules\": [\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"gate_proj\", \"up_proj\", \"down_proj\", \"lm_head\"]}";
  return 0;
}

// GPT-NeoX (polyglot-ko's layout): LayerNorm with biases, fused per-head [q k v], a quarter of each
// head rotated, parallel residual (or not, for "gptneox-serial").
int write_gptneox(const std::filesystem::path& dir, const std::filesystem::path& tok, bool parallel, uint64_t hidden, uint64_t inter,
                  uint64_t layers, uint64_t heads, uint64_t vocab) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"architectures\": [\"GPTNeoXForCausalLM\"], \"model_type\": \"gpt_neox\", \"hidden_size\": " << hidden
                                     << ", \"intermediate_size\": " << inter << ", \"num_hidden_layers\": " << layers
                                     << ", \"num_attention_heads\": " << heads << ", \"vocab_size\": " << vocab
                                     << ", \"max_position_embeddings\": 256, \"layer_norm_eps\": 1e-05, \"rotary_pct\": 0.25"
                                     << ", \"rotary_emb_base\": 10000, \"use_parallel_residual\": " << (parallel ? "true" : "false")
                                     << ", \"hidden_act\": \"gelu\", \"tie_word_embeddings\": false}";
  copy_tokenizer(tok, dir);
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::vector<float>> data;
  data.reserve(16 * layers + 8);
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean, float sd = 1.0f) {
    auto& v = data.emplace_back(shape.size() == 1 ? shape[0] : shape[0] * shape[1]);
    for (auto& x : v) x = mean + sd * normal(rng);
    tensors.push_back({name, ckpt::DType::F32, shape, ckpt::write_bytes_from(std::as_bytes(std::span(v)))});
  };
  add("gpt_neox.embed_in.weight", {vocab, hidden}, 0, 25.0f);  // embeddings of norm ~1 per element, as trained ones
  add("embed_out.weight", {vocab, hidden}, 0);
  add("gpt_neox.final_layer_norm.weight", {hidden}, 1);
  add("gpt_neox.final_layer_norm.bias", {hidden}, 0);
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = "gpt_neox.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm"}) {
      add(p + n + ".weight", {hidden}, 1);
      add(p + n + ".bias", {hidden}, 0);
    }
    add(p + "attention.query_key_value.weight", {3 * hidden, hidden}, 0, 4.0f);
    add(p + "attention.query_key_value.bias", {3 * hidden}, 0);
    add(p + "attention.dense.weight", {hidden, hidden}, 0);
    add(p + "attention.dense.bias", {hidden}, 0);
    add(p + "mlp.dense_h_to_4h.weight", {inter, hidden}, 0);
    add(p + "mlp.dense_h_to_4h.bias", {inter}, 0);
    add(p + "mlp.dense_4h_to_h.weight", {hidden, inter}, 0);
    add(p + "mlp.dense_4h_to_h.bias", {hidden}, 0);
  }
  ckpt::write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  return 0;
}

// EXAONE 3.5 (GPT-2-style names, llama3 rope scaling, tied embeddings) or EXAONE 4.0 (post-norms only,
// q/k norms; with 64 layers the 32B's sliding-window layout, window 4, "LLLG").
int write_exaone(const std::filesystem::path& dir, const std::filesystem::path& tok, bool v4, uint64_t hidden, uint64_t inter,
                 uint64_t layers, uint64_t heads, uint64_t kv_heads, uint64_t vocab) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  const uint64_t hd = hidden / heads;
  const bool swa = v4 && layers == 64;
  std::ofstream(dir / "config.json") << "{\"architectures\": [\"" << (v4 ? "Exaone4ForCausalLM" : "ExaoneForCausalLM")
                                     << "\"], \"hidden_size\": " << hidden << ", \"intermediate_size\": " << inter
                                     << ", \"" << (v4 ? "num_hidden_layers" : "num_layers") << "\": " << layers
                                     << ", \"num_attention_heads\": " << heads << ", \"num_key_value_heads\": " << kv_heads
                                     << ", \"head_dim\": " << hd << ", \"vocab_size\": " << vocab
                                     << ", \"max_position_embeddings\": 256, \"" << (v4 ? "rms_norm_eps" : "layer_norm_epsilon")
                                     << "\": 1e-05, \"activation_function\": \"silu\", \"tie_word_embeddings\": true"
                                     << ", \"rope_theta\": 1000000.0, \"rope_scaling\": {\"factor\": 8.0, \"high_freq_factor\": 4.0, "
                                        "\"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 64, \"rope_type\": \"llama3\"}"
                                     << (swa ? ", \"sliding_window\": 4, \"sliding_window_pattern\": \"LLLG\"" : "") << "}";
  copy_tokenizer(tok, dir);
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> data;
  data.reserve(16 * layers + 8);
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean, float sd) {
    auto& v = data.emplace_back(shape.size() == 1 ? shape[0] : shape[0] * shape[1]);
    for (auto& x : v) x = mean + sd * normal(rng);
    tensors.push_back({name, ckpt::DType::F32, shape, ckpt::write_bytes_from(std::as_bytes(std::span(v)))});
  };
  const std::string m = v4 ? "model." : "transformer.";
  const float w = 0.02f;
  add(m + (v4 ? "embed_tokens.weight" : "wte.weight"), {vocab, hidden}, 0, 0.02f);
  add(m + (v4 ? "norm.weight" : "ln_f.weight"), {hidden}, 1, 0.02f);
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = v4 ? "model.layers." + std::to_string(l) + "." : "transformer.h." + std::to_string(l) + ".";
    const std::string att = v4 ? p + "self_attn." : p + "attn.attention.";
    add(att + "q_proj.weight", {heads * hd, hidden}, 0, w);
    add(att + "k_proj.weight", {kv_heads * hd, hidden}, 0, w);
    add(att + "v_proj.weight", {kv_heads * hd, hidden}, 0, w);
    add(att + (v4 ? "o_proj.weight" : "out_proj.weight"), {hidden, heads * hd}, 0, w);
    if (v4) {
      add(att + "q_norm.weight", {hd}, 1, 0.02f);
      add(att + "k_norm.weight", {hd}, 1, 0.02f);
      add(p + "post_attention_layernorm.weight", {hidden}, 1, 0.02f);
      add(p + "post_feedforward_layernorm.weight", {hidden}, 1, 0.02f);
      add(p + "mlp.gate_proj.weight", {inter, hidden}, 0, w);
      add(p + "mlp.up_proj.weight", {inter, hidden}, 0, w);
      add(p + "mlp.down_proj.weight", {hidden, inter}, 0, w);
    } else {
      add(p + "ln_1.weight", {hidden}, 1, 0.02f);
      add(p + "ln_2.weight", {hidden}, 1, 0.02f);
      add(p + "mlp.c_fc_0.weight", {inter, hidden}, 0, w);
      add(p + "mlp.c_fc_1.weight", {inter, hidden}, 0, w);
      add(p + "mlp.c_proj.weight", {hidden, inter}, 0, w);
    }
  }
  ckpt::write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  return 0;
}

// Phi-3-mini-128k's rope_scaling: per-pair long and short divisors, an original context of 16 (so the
// contexts both llama.cpp and ckpt run with use the long factors).
std::string longrope_scaling(uint64_t head_dim) {
  std::string long_f, short_f;
  for (uint64_t i = 0; i < head_dim / 2; ++i) {
    long_f += (i ? ", " : "") + std::to_string(1.0 + 0.5 * static_cast<double>(i));
    short_f += (i ? ", " : "") + std::to_string(1.0 + 0.05 * static_cast<double>(i));
  }
  return ", \"original_max_position_embeddings\": 16, \"rope_scaling\": {\"type\": \"longrope\", \"long_factor\": [" + long_f +
         "], \"short_factor\": [" + short_f + "]}";
}

}  // namespace

int write_imatrix(const std::string& model_path, const std::string& out, bool legacy, bool full) {
  const auto model = ckpt::read_gguf(model_path);
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<ckpt::GgufTensorToWrite> tensors;
  std::vector<std::vector<float>> keep;  // data the writers point into
  std::ofstream dat;
  std::vector<std::pair<std::string, std::vector<float>>> entries;
  for (const auto& t : model.tensors) {
    if (t.ne.size() < 2 || t.name.find("_norm") != std::string::npos || (!full && t.name.find("ffn_up") != std::string::npos)) continue;
    std::vector<float> sums(t.ne[0]);
    const float count = 512.0f;
    for (size_t i = 0; i < sums.size(); ++i) sums[i] = i % 29 == 3 ? 0.0f : count * std::exp(1.5f * normal(rng));
    entries.emplace_back(t.name, std::move(sums));
  }
  if (legacy) {
    std::ofstream f(out, std::ios::binary);
    auto i32 = [&](int32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
    i32(static_cast<int32_t>(entries.size()));
    for (const auto& [name, sums] : entries) {
      i32(static_cast<int32_t>(name.size()));
      f.write(name.data(), static_cast<std::streamsize>(name.size()));
      i32(3);  // ncall: values are divided by it
      i32(static_cast<int32_t>(sums.size()));
      for (float v : sums) {
        const float x = v / 512.0f * 3.0f;
        f.write(reinterpret_cast<const char*>(&x), 4);
      }
    }
    i32(7);
    const std::string dataset = "wiki.train.raw";
    i32(static_cast<int32_t>(dataset.size()));
    f.write(dataset.data(), static_cast<std::streamsize>(dataset.size()));
    return f ? 0 : 1;
  }
  keep.reserve(2 * entries.size());  // the writers hold pointers into it
  for (const auto& [name, sums] : entries) {
    keep.push_back(sums);
    keep.push_back({512.0f});
    const auto* s = &keep[keep.size() - 2];
    const auto* c = &keep.back();
    tensors.push_back({name + ".in_sum2", {sums.size(), 1}, ckpt::DType::F32, [s](ckpt::ByteSink& sink) { sink.write(std::as_bytes(std::span(*s))); }});
    tensors.push_back({name + ".counts", {1, 1}, ckpt::DType::F32, [c](ckpt::ByteSink& sink) { sink.write(std::as_bytes(std::span(*c))); }});
  }
  std::vector<ckpt::GgufKv> kvs = {{"general.type", {std::string("imatrix")}, 0},
                                   {"imatrix.datasets", ckpt::GgufValue::string_array({"wiki.train.raw"}), 0},
                                   {"imatrix.chunk_count", {uint32_t{7}}, 0},
                                   {"imatrix.chunk_size", {uint32_t{512}}, 0}};
  ckpt::write_gguf(out, kvs, tensors);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 5 && std::string(argv[1]) == "imatrix") return write_imatrix(argv[2], argv[3], std::string(argv[4]) == "legacy", std::string(argv[4]) == "gguf-full");
  if (argc == 5 && std::string(argv[1]) == "lora") return write_lora(argv[2], argv[3], argv[4]);
  if (argc == 3 && std::string(argv[1]) == "bert") return ckpt::test::write_tiny_bert(argv[2], 32, 64, 2, 2);
  if (argc == 3 && std::string(argv[1]) == "t5") {
    ckpt::test::write_tiny_t5(argv[2]);
    return 0;
  }
  if (argc != 10) {
    std::fprintf(stderr, "usage: make_test_checkpoint ARCH OUT_DIR TOKENIZER_DIR HIDDEN INTERMEDIATE LAYERS HEADS KV_HEADS VOCAB\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const std::string arch = argv[1];
  const fs::path dir(argv[2]), tok(argv[3]);
  const uint64_t hidden = std::strtoull(argv[4], nullptr, 10), inter = std::strtoull(argv[5], nullptr, 10);
  const uint64_t layers = std::strtoull(argv[6], nullptr, 10), heads = std::strtoull(argv[7], nullptr, 10);
  const uint64_t kv_heads = std::strtoull(argv[8], nullptr, 10), vocab = std::strtoull(argv[9], nullptr, 10);
  if (arch == "exaone" || arch == "exaone4") {
    return write_exaone(dir, tok, arch == "exaone4", hidden, inter, layers, heads, kv_heads, vocab);
  }
  if (arch == "gptneox" || arch == "gptneox-serial") return write_gptneox(dir, tok, arch == "gptneox", hidden, inter, layers, heads, vocab);
  const bool longrope = arch == "phi3-longrope";
  const bool yarn = arch == "qwen2-yarn", qwen3 = arch == "qwen3", nemo = arch == "mistral-nemo", phi3 = arch == "phi3" || longrope;
  const bool gemma2 = arch == "gemma2", gemma3 = arch == "gemma3", gemma = gemma2 || gemma3;
  const bool qwen2 = arch == "qwen2" || yarn, llama3 = arch == "llama3", tied = qwen2 || llama3 || qwen3 || gemma;
  // Qwen3: an explicit head_dim twice hidden / heads (llama.cpp must size attention from key_length).
  const uint64_t head_dim = qwen3 || nemo || gemma ? 2 * hidden / heads : hidden / heads;
  // Gemma 3 pads its embedding past the tokenizer (llama.cpp keeps the tokenizer's rows).
  const uint64_t rows = gemma3 ? vocab + 64 : vocab;
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{\"architectures\": [\"" << (gemma2 ? "Gemma2ForCausalLM" : gemma3 ? "Gemma3ForCausalLM" : qwen3 ? "Qwen3ForCausalLM" : qwen2 ? "Qwen2ForCausalLM" : nemo ? "MistralForCausalLM" : phi3 ? "Phi3ForCausalLM" : "LlamaForCausalLM")
                                     << "\"], \"hidden_size\": " << hidden << ", \"intermediate_size\": " << inter
                                     << ", \"num_hidden_layers\": " << layers << ", \"num_attention_heads\": " << heads
                                     << ", \"num_key_value_heads\": " << kv_heads << ", \"vocab_size\": " << rows
                                     << ", \"max_position_embeddings\": 256, \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": "
                                     << (tied ? "true" : "false")
                                     << (llama3 ? ", \"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0, "
                                                  "\"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 64}"
                                                : "")
                                     << (yarn ? ", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 64}" : "")
                                     << (longrope ? longrope_scaling(hidden / heads) : std::string())
                                     << (qwen3 || nemo || gemma ? ", \"head_dim\": " + std::to_string(head_dim) : std::string())
                                     << (gemma ? ", \"query_pre_attn_scalar\": " + std::to_string(head_dim) + ", \"sliding_window\": 6" : std::string())
                                     << (gemma2 ? ", \"attn_logit_softcapping\": 0.1, \"final_logit_softcapping\": 0.5" : "")
                                     << (gemma3 ? ", \"rope_theta\": 1000000.0, \"rope_local_base_freq\": 10000.0, \"sliding_window_pattern\": 2"
                                                  ", \"final_logit_softcapping\": null, \"attn_logit_softcapping\": null"
                                                : "")
                                     << "}";
  copy_tokenizer(tok, dir);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<std::vector<float>> data;
  data.reserve(16 * layers + 8);
  std::vector<ckpt::TensorToWrite> tensors;
  auto add = [&](const std::string& name, std::vector<uint64_t> shape, float mean, float sd_scale = 1.0f) {
    uint64_t n = 1;
    for (auto d : shape) n *= d;
    auto& v = data.emplace_back(n);
    for (auto& x : v) x = mean + sd_scale * normal(rng);
    if (gemma && name.ends_with("norm.weight")) {
      for (auto& x : v) x = std::round(x * 65536.0f) / 65536.0f;
    }
    tensors.push_back({name, ckpt::DType::F32, shape, ckpt::write_bytes_from(std::as_bytes(std::span(v)))});
  };
  const uint64_t kv_dim = kv_heads * head_dim, q_dim = heads * head_dim;
  // Gemma's norms scale by 1 + w: stored around 0 (and exact in f32 after llama.cpp adds 1).
  const float norm_mean = gemma ? 0 : 1;
  add("model.embed_tokens.weight", {rows, hidden}, 0);
  if (!tied) add("lm_head.weight", {vocab, hidden}, 0);
  add("model.norm.weight", {hidden}, norm_mean);
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {hidden}, norm_mean);
    add(p + "post_attention_layernorm.weight", {hidden}, norm_mean);
    if (gemma) {
      add(p + "pre_feedforward_layernorm.weight", {hidden}, norm_mean);
      add(p + "post_feedforward_layernorm.weight", {hidden}, norm_mean);
    }
    if (phi3) {  // fused as Phi-3 stores them; longrope: peaked attention, so positions (and their factors) matter
      add(p + "self_attn.qkv_proj.weight", {q_dim + 2 * kv_dim, hidden}, 0, longrope ? 5.0f : 1.0f);
    } else {
      add(p + "self_attn.q_proj.weight", {q_dim, hidden}, 0);
      add(p + "self_attn.k_proj.weight", {kv_dim, hidden}, 0);
      add(p + "self_attn.v_proj.weight", {kv_dim, hidden}, 0);
    }
    add(p + "self_attn.o_proj.weight", {hidden, q_dim}, 0);
    if (qwen3 || gemma3) {
      add(p + "self_attn.q_norm.weight", {head_dim}, norm_mean);
      add(p + "self_attn.k_norm.weight", {head_dim}, norm_mean);
    }
    if (qwen2) {
      add(p + "self_attn.q_proj.bias", {q_dim}, 0);
      add(p + "self_attn.k_proj.bias", {kv_dim}, 0);
      add(p + "self_attn.v_proj.bias", {kv_dim}, 0);
    }
    if (phi3) {
      add(p + "mlp.gate_up_proj.weight", {2 * inter, hidden}, 0);
    } else {
      add(p + "mlp.gate_proj.weight", {inter, hidden}, 0);
      add(p + "mlp.up_proj.weight", {inter, hidden}, 0);
    }
    add(p + "mlp.down_proj.weight", {hidden, inter}, 0);
  }
  ckpt::write_safetensors((dir / "model.safetensors").string(), std::move(tensors), {{"format", "pt"}});
  return 0;
}
