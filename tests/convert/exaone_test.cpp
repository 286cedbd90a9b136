// EXAONE 3.5 and 4.0 as llama.cpp's converter writes them (the QLoRA workshop's base): tensor names,
// the RMS epsilon llama.cpp's loader reads, llama3 rope_freqs, EXAONE 4's per-layer sliding-window
// pattern; --to hf gives back the same tensors and config; an HF directory runs like its GGUF.
// (Greedy ids against llama.cpp: tests/interop run-exaone, run-exaone4, run-exaone4swa.)
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

constexpr uint64_t kHidden = 64, kFf = 128, kHeads = 4, kKvHeads = 2, kVocab = 512;

Tensors write_exaone(const std::string& dir, bool v4, uint64_t layers, std::mt19937& rng) {
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(fs::path(kSample) / f, fs::path(dir) / f);
  nlohmann::json c = {{"architectures", {v4 ? "Exaone4ForCausalLM" : "ExaoneForCausalLM"}}, {"hidden_size", kHidden},
                      {"intermediate_size", kFf}, {v4 ? "num_hidden_layers" : "num_layers", layers},
                      {"num_attention_heads", kHeads}, {"num_key_value_heads", kKvHeads}, {"vocab_size", kVocab},
                      {"max_position_embeddings", 128}, {v4 ? "rms_norm_eps" : "layer_norm_epsilon", 2e-5},
                      {"tie_word_embeddings", true}, {"rope_theta", 1000000.0},
                      {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
                                        {"original_max_position_embeddings", 32}}}};
  if (v4 && layers == 64) c.update({{"sliding_window", 3}, {"sliding_window_pattern", "LLLG"}});
  std::ofstream(fs::path(dir) / "config.json") << c.dump(2);
  const uint64_t hd = kHidden / kHeads;
  Tensors ts;
  const std::string m = v4 ? "model." : "transformer.";
  ts[m + (v4 ? "embed_tokens.weight" : "wte.weight")] = random_mat({kVocab, kHidden}, rng, 0.5);
  ts[m + (v4 ? "norm.weight" : "ln_f.weight")] = random_mat({kHidden}, rng, 0.5);
  for (uint64_t l = 0; l < layers; ++l) {
    const std::string p = (v4 ? "model.layers." : "transformer.h.") + std::to_string(l) + ".";
    const std::string a = p + (v4 ? "self_attn." : "attn.attention.");
    ts[a + "q_proj.weight"] = random_mat({kHeads * hd, kHidden}, rng, 0.2);
    ts[a + "k_proj.weight"] = random_mat({kKvHeads * hd, kHidden}, rng, 0.2);
    ts[a + "v_proj.weight"] = random_mat({kKvHeads * hd, kHidden}, rng, 0.2);
    ts[a + (v4 ? "o_proj.weight" : "out_proj.weight")] = random_mat({kHidden, kHeads * hd}, rng, 0.2);
    ts[p + (v4 ? "mlp.gate_proj.weight" : "mlp.c_fc_0.weight")] = random_mat({kFf, kHidden}, rng, 0.2);
    ts[p + (v4 ? "mlp.up_proj.weight" : "mlp.c_fc_1.weight")] = random_mat({kFf, kHidden}, rng, 0.2);
    ts[p + (v4 ? "mlp.down_proj.weight" : "mlp.c_proj.weight")] = random_mat({kHidden, kFf}, rng, 0.2);
    if (v4) {
      ts[a + "q_norm.weight"] = random_mat({hd}, rng, 0.5);
      ts[a + "k_norm.weight"] = random_mat({hd}, rng, 0.5);
      ts[p + "post_attention_layernorm.weight"] = random_mat({kHidden}, rng, 0.5);
      ts[p + "post_feedforward_layernorm.weight"] = random_mat({kHidden}, rng, 0.5);
    } else {
      ts[p + "ln_1.weight"] = random_mat({kHidden}, rng, 0.5);
      ts[p + "ln_2.weight"] = random_mat({kHidden}, rng, 0.5);
    }
  }
  write_tensors(dir + "/model.safetensors", ts, DType::F32);
  return ts;
}

void expect_round_trip_and_same_logits(const std::string& hf_dir, const std::string& gguf, const Tensors& original, const std::string& back) {
  ConvertOptions o;
  o.input = gguf;
  o.output = back;
  o.to = "hf";
  convert(o);
  const Tensors again = read_tensors(back);
  EXPECT_EQ(again.size(), original.size());
  for (const auto& [name, m] : original) {
    ASSERT_TRUE(again.count(name)) << name;
    EXPECT_EQ(again.at(name).v, m.v) << name;
  }
  const runtime::Model a = runtime::load_model(hf_dir), b = runtime::load_model(gguf);
  runtime::Forward fa(a, 32, 2, runtime::KvType::F32), fb(b, 32, 2, runtime::KvType::F32);
  const std::vector<int32_t> tokens = {1, 9, 300, 41, 7, 66, 2, 101};
  const auto la = fa.eval(tokens, true);
  const std::vector<float> first(la.begin(), la.end());
  const auto lb = fb.eval(tokens, true);
  for (size_t i = 0; i < first.size(); ++i) ASSERT_NEAR(first[i], lb[i], 1e-4) << i;
}

TEST(Exaone, Exaone3ConvertsWithLlamaCppsKeysAndBack) {
  test::TempDir tmp;
  std::mt19937 rng(21);
  const Tensors hf = write_exaone(tmp.file("e3"), false, 2, rng);
  to_gguf(tmp.file("e3"), tmp.file("e3.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("e3.gguf"));
  EXPECT_EQ(*g.find_kv("general.architecture")->value.as_string(), "exaone");
  EXPECT_EQ(g.find_kv("exaone.block_count")->value.as_u64(), 2u);
  EXPECT_FLOAT_EQ(std::get<float>(g.find_kv("exaone.attention.layer_norm_rms_epsilon")->value.data), 2e-5f);
  EXPECT_EQ(g.find_kv("exaone.rope.dimension_count")->value.as_u64(), kHidden / kHeads);
  ASSERT_TRUE(g.find_tensor("rope_freqs.weight"));
  ASSERT_TRUE(g.find_tensor("blk.1.ffn_gate.weight"));
  // c_fc_0 is the gate, c_fc_1 the up projection.
  std::vector<float> gate(kFf * kHidden);
  decode_to_f32(DType::F32, g.data(*g.find_tensor("blk.1.ffn_gate.weight")), gate);
  EXPECT_EQ(gate[5], static_cast<float>(hf.at("transformer.h.1.mlp.c_fc_0.weight").v[5]));
  expect_round_trip_and_same_logits(tmp.file("e3"), tmp.file("e3.gguf"), hf, tmp.file("back"));
  const auto config = nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")));
  EXPECT_EQ(config["num_layers"], 2);
  EXPECT_EQ(config["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(config["rope_scaling"]["original_max_position_embeddings"], 32);
}

TEST(Exaone, Exaone4SlidingWindowLayoutConvertsAndRuns) {
  test::TempDir tmp;
  std::mt19937 rng(22);
  const Tensors hf = write_exaone(tmp.file("e4"), true, 64, rng);
  to_gguf(tmp.file("e4"), tmp.file("e4.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("e4.gguf"));
  const auto* pattern = g.find_kv("exaone4.attention.sliding_window_pattern");
  ASSERT_TRUE(pattern && pattern->value.is_array());
  ASSERT_EQ(pattern->value.array().count, 64u);
  for (uint64_t i = 0; i < 64; ++i) EXPECT_EQ(pattern->value.array().at<uint8_t>(i) != 0, i % 4 != 3) << i;
  EXPECT_FALSE(g.find_tensor("blk.0.attn_norm.weight"));
  const runtime::Model m = runtime::load_model(tmp.file("e4.gguf"));
  EXPECT_TRUE(m.hp.rope_only_swa);
  EXPECT_EQ(m.hp.n_swa, 3u);
  expect_round_trip_and_same_logits(tmp.file("e4"), tmp.file("e4.gguf"), hf, tmp.file("back"));
  const auto config = nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")));
  EXPECT_EQ(config["layer_types"][3], "full_attention");
  EXPECT_EQ(config["layer_types"][4], "sliding_attention");
}

}  // namespace
}  // namespace ckpt
