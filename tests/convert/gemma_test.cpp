// Gemma 2 / 3 as llama.cpp's converter writes them: norms stored as 1 + w (in the tensor's torch dtype),
// lm_head dropped, Gemma 3's padded embedding cut to the tokenizer, its keys; --to hf undoes it all; an
// HF directory runs like its GGUF. (Greedy ids against llama.cpp: tests/interop run-gemma2/3.)
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "runtime/dot.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

constexpr uint64_t kHidden = 64, kFf = 128, kHeads = 4, kKvHeads = 2, kHeadDim = 32, kLayers = 2, kVocab = 512;

// A Gemma checkpoint with the sample's tokenizer; `extra_rows` pads the embedding past it (Gemma 3).
Tensors write_gemma(const std::string& dir, bool gemma3, DType t, std::mt19937& rng, uint64_t extra_rows) {
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(fs::path(kSample) / f, fs::path(dir) / f);
  nlohmann::json c = {{"architectures", {gemma3 ? "Gemma3ForCausalLM" : "Gemma2ForCausalLM"}},
                      {"hidden_size", kHidden}, {"intermediate_size", kFf}, {"num_hidden_layers", kLayers},
                      {"num_attention_heads", kHeads}, {"num_key_value_heads", kKvHeads}, {"head_dim", kHeadDim},
                      {"vocab_size", kVocab + extra_rows}, {"max_position_embeddings", 128}, {"rms_norm_eps", 1e-6},
                      {"query_pre_attn_scalar", kHeadDim}, {"sliding_window", 4}};
  if (gemma3) {
    c.update({{"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0}, {"final_logit_softcapping", nullptr},
              {"attn_logit_softcapping", nullptr}});
  } else {
    c.update({{"attn_logit_softcapping", 2.0}, {"final_logit_softcapping", 3.0}});
  }
  std::ofstream(fs::path(dir) / "config.json") << c.dump(2);
  Tensors ts;
  ts["model.embed_tokens.weight"] = random_mat({kVocab + extra_rows, kHidden}, rng, 0.5, t);
  ts["model.norm.weight"] = random_mat({kHidden}, rng, 0.25, t);
  for (uint64_t l = 0; l < kLayers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"}) {
      ts[p + n + ".weight"] = random_mat({kHidden}, rng, 0.25, t);
    }
    ts[p + "self_attn.q_proj.weight"] = random_mat({kHeads * kHeadDim, kHidden}, rng, 0.2, t);
    ts[p + "self_attn.k_proj.weight"] = random_mat({kKvHeads * kHeadDim, kHidden}, rng, 0.2, t);
    ts[p + "self_attn.v_proj.weight"] = random_mat({kKvHeads * kHeadDim, kHidden}, rng, 0.2, t);
    ts[p + "self_attn.o_proj.weight"] = random_mat({kHidden, kHeads * kHeadDim}, rng, 0.2, t);
    ts[p + "mlp.gate_proj.weight"] = random_mat({kFf, kHidden}, rng, 0.2, t);
    ts[p + "mlp.up_proj.weight"] = random_mat({kFf, kHidden}, rng, 0.2, t);
    ts[p + "mlp.down_proj.weight"] = random_mat({kHidden, kFf}, rng, 0.2, t);
    if (gemma3) {
      ts[p + "self_attn.q_norm.weight"] = random_mat({kHeadDim}, rng, 0.25, t);
      ts[p + "self_attn.k_norm.weight"] = random_mat({kHeadDim}, rng, 0.25, t);
    }
  }
  // Norm weights on a grid of 2^-16, so 1 + w (and back) is exact in f32 and the round trip can be exact.
  for (auto& [name, m] : ts) {
    if (name.ends_with("norm.weight")) {
      for (auto& x : m.v) x = round_to(t, std::round(x * 65536.0) / 65536.0);
    }
  }
  Tensors with_head = ts;
  with_head["lm_head.weight"] = ts["model.embed_tokens.weight"];  // tied; llama.cpp drops it
  write_tensors(dir + "/model.safetensors", with_head, t);
  return ts;
}

std::vector<float> gguf_values(const GgufFile& g, const std::string& name) {
  const auto* t = g.find_tensor(name);
  EXPECT_TRUE(t) << name;
  if (!t) return {};
  std::vector<float> out(shape_numel(t->ne).value());
  decode_to_f32(t->dtype, g.data(*t), out);
  return out;
}

TEST(Gemma, Gemma3StoresOnePlusNormsCutsTheEmbeddingAndComesBack) {
  test::TempDir tmp;
  std::mt19937 rng(5);
  const Tensors hf = write_gemma(tmp.file("g3"), true, DType::F32, rng, 64);
  to_gguf(tmp.file("g3"), tmp.file("g3.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("g3.gguf"));
  EXPECT_EQ(*g.find_kv("general.architecture")->value.as_string(), "gemma3");
  EXPECT_FLOAT_EQ(std::get<float>(g.find_kv("gemma3.rope.freq_base_swa")->value.data), 10000.0f);
  EXPECT_EQ(g.find_kv("gemma3.attention.sliding_window")->value.as_u64(), 4u);
  EXPECT_EQ(g.find_kv("gemma3.attention.key_length")->value.as_u64(), kHeadDim);
  EXPECT_FALSE(g.find_kv("gemma3.final_logit_softcapping"));
  EXPECT_EQ(std::get<bool>(g.find_kv("tokenizer.ggml.add_space_prefix")->value.data), false);
  EXPECT_FALSE(g.find_tensor("output.weight"));
  // The embedding keeps the tokenizer's 512 rows of the 576 stored.
  const auto* embd = g.find_tensor("token_embd.weight");
  ASSERT_TRUE(embd);
  EXPECT_EQ(embd->ne, (std::vector<uint64_t>{kHidden, kVocab}));
  const auto e = gguf_values(g, "token_embd.weight");
  for (size_t i = 0; i < e.size(); ++i) ASSERT_EQ(e[i], static_cast<float>(hf.at("model.embed_tokens.weight").v[i])) << i;
  // Every norm, q/k norms included, is 1 + w.
  for (const auto& [gguf_name, hf_name] : std::vector<std::pair<std::string, std::string>>{
           {"output_norm.weight", "model.norm.weight"},
           {"blk.1.attn_norm.weight", "model.layers.1.input_layernorm.weight"},
           {"blk.1.post_attention_norm.weight", "model.layers.1.post_attention_layernorm.weight"},
           {"blk.0.ffn_norm.weight", "model.layers.0.pre_feedforward_layernorm.weight"},
           {"blk.0.post_ffw_norm.weight", "model.layers.0.post_feedforward_layernorm.weight"},
           {"blk.0.attn_q_norm.weight", "model.layers.0.self_attn.q_norm.weight"}}) {
    const auto got = gguf_values(g, gguf_name);
    const auto& want = hf.at(hf_name).v;
    ASSERT_EQ(got.size(), want.size()) << gguf_name;
    for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], static_cast<float>(want[i]) + 1.0f) << gguf_name << " " << i;
  }

  ConvertOptions back;
  back.input = tmp.file("g3.gguf");
  back.output = tmp.file("back");
  back.to = "hf";
  convert(back);
  const auto config = nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")));
  EXPECT_EQ(config["architectures"][0], "Gemma3ForCausalLM");
  EXPECT_EQ(config["model_type"], "gemma3_text");
  EXPECT_EQ(config["head_dim"], kHeadDim);
  EXPECT_EQ(config["query_pre_attn_scalar"], kHeadDim);
  EXPECT_EQ(config["rope_local_base_freq"], 10000.0);
  EXPECT_EQ(config["sliding_window"], 4);
  // w + 1 - 1 is exact for these norms, so the tensors come back as they were.
  const Tensors again = read_tensors(tmp.file("back"));
  for (const auto& [name, m] : hf) {
    ASSERT_TRUE(again.count(name)) << name;
    const auto& got = again.at(name).v;
    const size_t n = name == "model.embed_tokens.weight" ? kVocab * kHidden : m.v.size();
    ASSERT_EQ(got.size(), n) << name;
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(static_cast<float>(got[i]), static_cast<float>(m.v[i])) << name << " " << i;
  }
  // ... and converts again to the same GGUF bytes.
  to_gguf(tmp.file("back"), tmp.file("again.gguf"), "f32");
  const GgufFile g2 = read_gguf(tmp.file("again.gguf"));
  for (const auto& t : g.tensors) {
    const auto a = g.data(t), b = g2.data(*g2.find_tensor(t.name));
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
  }
}

// A bf16 Gemma checkpoint comes back byte for byte: its norms (1 + w in the GGUF's F32) return to bf16.
TEST(Gemma, Bf16CheckpointComesBackByteForByte) {
  test::TempDir tmp;
  std::mt19937 rng(9);
  write_gemma(tmp.file("g"), true, DType::BF16, rng, 0);
  to_gguf(tmp.file("g"), tmp.file("g.gguf"), "bf16");
  ConvertOptions back;
  back.input = tmp.file("g.gguf");
  back.output = tmp.file("back");
  back.to = "hf";
  convert(back);
  const auto original = read_safetensors(tmp.file("g/model.safetensors"));
  const auto copy = read_safetensors(tmp.file("back/model.safetensors"));
  for (const auto& t : original.tensors) {
    if (t.name == "lm_head.weight") continue;  // tied: llama.cpp drops it, --to hf ties it again
    const auto* u = copy.find(t.name);
    ASSERT_TRUE(u) << t.name;
    EXPECT_EQ(u->dtype, DType::BF16) << t.name;
    const auto a = original.data(t), b = copy.data(*u);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
  }
}

// With a tokenizer.model (as Google ships Gemma 3), llama.cpp keeps every embedding row and pads the
// vocabulary to vocab_size instead of cutting (Llama 2's 32,000-piece model stands in for Gemma's).
TEST(Gemma, Gemma3WithTokenizerModelKeepsEveryRow) {
  CKPT_SHARED_OR_SKIP(spm, "karpathy-llama2c-tokenizer/tokenizer.model");
  test::TempDir tmp;
  std::mt19937 rng(10);
  const std::string dir = tmp.file("g3");
  write_gemma(dir, true, DType::F32, rng, 0);
  fs::remove(dir + "/tokenizer.json");
  fs::copy_file(spm, dir + "/tokenizer.model");
  Tensors t = read_tensors(dir);
  t["model.embed_tokens.weight"] = random_mat({32064, kHidden}, rng, 0.5);
  auto config = nlohmann::json::parse(std::ifstream(dir + "/config.json"));
  config["vocab_size"] = 32064;
  std::ofstream(dir + "/config.json") << config.dump(2);
  write_tensors(dir + "/model.safetensors", t, DType::F32);
  to_gguf(dir, tmp.file("g3.gguf"), "f16");
  const GgufFile g = read_gguf(tmp.file("g3.gguf"));
  EXPECT_EQ(g.find_tensor("token_embd.weight")->ne, (std::vector<uint64_t>{kHidden, 32064}));
  const auto* tokens = g.find_kv("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens);
  EXPECT_EQ(tokens->value.array().count, 32064u);
  EXPECT_EQ(tokens->value.array().string_at(32063), "[PAD32063]");
}

TEST(Gemma, F16NormsAddOneInF16AsTorchDoes) {
  test::TempDir tmp;
  std::mt19937 rng(6);
  Tensors hf = write_gemma(tmp.file("g2"), false, DType::F16, rng, 0);
  // 2^-12 is below f16's spacing at 1 (2^-10): torch's f16 sum 1 + 2^-12 rounds to 1; f32 would keep it.
  hf["model.norm.weight"].v[0] = std::ldexp(1.0, -12);
  hf["model.norm.weight"].v[1] = 0.5;
  Tensors with_head = hf;
  with_head["lm_head.weight"] = hf["model.embed_tokens.weight"];
  write_tensors(tmp.file("g2/model.safetensors"), with_head, DType::F16);
  to_gguf(tmp.file("g2"), tmp.file("g2.gguf"), "f16");
  const GgufFile g = read_gguf(tmp.file("g2.gguf"));
  EXPECT_FLOAT_EQ(std::get<float>(g.find_kv("gemma2.attn_logit_softcapping")->value.data), 2.0f);
  EXPECT_FLOAT_EQ(std::get<float>(g.find_kv("gemma2.final_logit_softcapping")->value.data), 3.0f);
  EXPECT_EQ(g.find_tensor("output_norm.weight")->dtype, DType::F32);
  const auto norm = gguf_values(g, "output_norm.weight");
  EXPECT_EQ(norm[0], 1.0f);
  EXPECT_EQ(norm[1], 1.5f);
}

TEST(Gemma, HfDirectoryRunsLikeItsGguf) {
  for (const bool gemma3 : {false, true}) {
    SCOPED_TRACE(gemma3 ? "gemma3" : "gemma2");
    test::TempDir tmp;
    std::mt19937 rng(7);
    write_gemma(tmp.file("m"), gemma3, DType::F32, rng, gemma3 ? 64 : 0);
    to_gguf(tmp.file("m"), tmp.file("m.gguf"), "f32");
    const runtime::Model hf = runtime::load_model(tmp.file("m")), gg = runtime::load_model(tmp.file("m.gguf"));
    EXPECT_EQ(hf.hp.n_vocab, kVocab);
    EXPECT_EQ(hf.hp.n_swa, 4u);
    // Gemma 2 alternates (sliding, global); Gemma 3's default period of 6 makes both layers sliding.
    EXPECT_EQ(hf.hp.swa_layers, (std::vector<bool>{true, !gemma3 ? false : true}));
    runtime::Forward a(hf, 32, 2, runtime::KvType::F32), b(gg, 32, 2, runtime::KvType::F32);
    const std::vector<int32_t> tokens = {1, 9, 300, 41, 7, 88, 5, 120};  // longer than the window of 4
    const auto la = a.eval(tokens, true);
    const std::vector<float> first(la.begin(), la.end());
    const auto lb = b.eval(tokens, true);
    for (size_t i = 0; i < first.size(); ++i) {
      ASSERT_NEAR(first[i], lb[i], 1e-4) << i;
      if (!gemma3) ASSERT_LE(std::fabs(first[i]), 3.0f) << "final soft-capping bounds the logits";
    }
  }
}

// The attention kernel's soft-capping against a hand computation: two keys with raw scores 4 and 0,
// capped at 2: 2 tanh(2) and 0, softmax weights over the values 1 and 3.
TEST(Gemma, AttentionSoftCapMatchesHandComputation) {
  const std::vector<float> q = {2, 0}, k = {2, 0, 0, 5}, v = {1, 1, 3, 3};
  std::vector<float> scores(2), out(2);
  runtime::attend_head(q.data(), k.data(), v.data(), 2, 2, 2, 1.0f, 2.0f, scores.data(), out.data());
  const double s0 = 2 * std::tanh(2.0), p0 = std::exp(s0) / (std::exp(s0) + 1.0);
  EXPECT_NEAR(out[0], p0 * 1 + (1 - p0) * 3, 1e-6);
  runtime::attend_head(q.data(), k.data(), v.data(), 2, 2, 2, 1.0f, 0.0f, scores.data(), out.data());
  const double u0 = std::exp(4.0) / (std::exp(4.0) + 1.0);
  EXPECT_NEAR(out[0], u0 * 1 + (1 - u0) * 3, 1e-6);
}

}  // namespace
}  // namespace ckpt
