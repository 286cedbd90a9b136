// GPT-NeoX (polyglot-ko, pythia) as llama.cpp's converter writes it: the fused per-head [q k v] rows
// regrouped as [q; k; v] (checked against the reshape by hand), partial rotary, parallel residual;
// --to hf restores the checkpoint byte for byte; an HF directory runs like its GGUF. (Greedy ids
// against llama.cpp: tests/interop run-gptneox.)
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "convert/merge.h"
#include "formats/gguf.h"
#include "formats/permute.h"
#include "runtime/lora.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

constexpr uint64_t kHidden = 32, kFf = 64, kHeads = 4, kLayers = 2, kVocab = 512;

Tensors write_neox(const std::string& dir, bool parallel, std::mt19937& rng) {
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(fs::path(kSample) / f, fs::path(dir) / f);
  const nlohmann::json c = {{"architectures", {"GPTNeoXForCausalLM"}}, {"hidden_size", kHidden}, {"intermediate_size", kFf},
                            {"num_hidden_layers", kLayers}, {"num_attention_heads", kHeads}, {"vocab_size", kVocab},
                            {"max_position_embeddings", 64}, {"layer_norm_eps", 1e-5}, {"rotary_pct", 0.5},
                            {"use_parallel_residual", parallel}};
  std::ofstream(fs::path(dir) / "config.json") << c.dump(2);
  Tensors ts;
  ts["gpt_neox.embed_in.weight"] = random_mat({kVocab, kHidden}, rng, 1.0);
  ts["embed_out.weight"] = random_mat({kVocab, kHidden}, rng, 0.2);
  ts["gpt_neox.final_layer_norm.weight"] = random_mat({kHidden}, rng, 0.5);
  ts["gpt_neox.final_layer_norm.bias"] = random_mat({kHidden}, rng, 0.1);
  for (uint64_t l = 0; l < kLayers; ++l) {
    const std::string p = "gpt_neox.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm"}) {
      ts[p + n + ".weight"] = random_mat({kHidden}, rng, 0.5);
      ts[p + n + ".bias"] = random_mat({kHidden}, rng, 0.1);
    }
    ts[p + "attention.query_key_value.weight"] = random_mat({3 * kHidden, kHidden}, rng, 0.3);
    ts[p + "attention.query_key_value.bias"] = random_mat({3 * kHidden}, rng, 0.1);
    ts[p + "attention.dense.weight"] = random_mat({kHidden, kHidden}, rng, 0.2);
    ts[p + "attention.dense.bias"] = random_mat({kHidden}, rng, 0.1);
    ts[p + "mlp.dense_h_to_4h.weight"] = random_mat({kFf, kHidden}, rng, 0.2);
    ts[p + "mlp.dense_h_to_4h.bias"] = random_mat({kFf}, rng, 0.1);
    ts[p + "mlp.dense_4h_to_h.weight"] = random_mat({kHidden, kFf}, rng, 0.2);
    ts[p + "mlp.dense_4h_to_h.bias"] = random_mat({kHidden}, rng, 0.1);
  }
  write_tensors(dir + "/model.safetensors", ts, DType::F32);
  return ts;
}

TEST(GptNeox, QkvRowsRegroupAsTheReshapeDoes) {
  // 2 heads of 2 dims: HF rows [q0 q0' k0 k0' v0 v0' q1 q1' k1 k1' v1 v1'] -> [q0 q0' q1 q1' k0 k0' k1 k1' v0 ...].
  const std::vector<uint64_t> want = {0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11};
  for (uint64_t r = 0; r < 12; ++r) {
    EXPECT_EQ(hf_row_for(TensorOp::NeoxQkv, r, 12, 2), want[r]) << r;
    EXPECT_EQ(gguf_row_for(TensorOp::NeoxQkv, want[r], 12, 2), r) << r;
  }
}

TEST(GptNeox, ConvertsBothWaysByteForByteAndRunsLikeItsGguf) {
  for (const bool parallel : {true, false}) {
    SCOPED_TRACE(parallel ? "parallel residual" : "serial");
    test::TempDir tmp;
    std::mt19937 rng(parallel ? 3 : 4);
    const Tensors hf = write_neox(tmp.file("m"), parallel, rng);
    to_gguf(tmp.file("m"), tmp.file("m.gguf"), "f32");
    const GgufFile g = read_gguf(tmp.file("m.gguf"));
    EXPECT_EQ(g.find_kv("gptneox.rope.dimension_count")->value.as_u64(), kHidden / kHeads / 2);
    EXPECT_EQ(std::get<bool>(g.find_kv("gptneox.use_parallel_residual")->value.data), parallel);
    // attn_qkv row r is HF row hf_row_for(r), in the weight and in the bias.
    const auto* qkv = g.find_tensor("blk.1.attn_qkv.weight");
    ASSERT_TRUE(qkv);
    std::vector<float> w(3 * kHidden * kHidden);
    decode_to_f32(qkv->dtype, g.data(*qkv), w);
    const auto& src = hf.at("gpt_neox.layers.1.attention.query_key_value.weight").v;
    const uint64_t hd = kHidden / kHeads;
    for (uint64_t r = 0; r < 3 * kHidden; ++r) {
      const uint64_t part = r / kHidden, head = (r % kHidden) / hd, d = r % hd;  // the Python reshape's indices
      for (uint64_t c = 0; c < kHidden; ++c) ASSERT_EQ(w[r * kHidden + c], static_cast<float>(src[(head * 3 * hd + part * hd + d) * kHidden + c]));
    }

    ConvertOptions back;
    back.input = tmp.file("m.gguf");
    back.output = tmp.file("back");
    back.to = "hf";
    convert(back);
    const auto original = read_safetensors(tmp.file("m/model.safetensors"));
    const auto copy = read_safetensors(tmp.file("back/model.safetensors"));
    ASSERT_EQ(copy.tensors.size(), original.tensors.size());
    for (const auto& t : original.tensors) {
      const auto* u = copy.find(t.name);
      ASSERT_TRUE(u) << t.name;
      const auto a = original.data(t), b = copy.data(*u);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
    }
    const auto config = nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")));
    EXPECT_EQ(config["rotary_pct"], 0.5);
    EXPECT_EQ(config["use_parallel_residual"], parallel);

    const runtime::Model a = runtime::load_model(tmp.file("m")), b = runtime::load_model(tmp.file("m.gguf"));
    runtime::Forward fa(a, 32, 2, runtime::KvType::F32), fb(b, 32, 2, runtime::KvType::F32);
    const std::vector<int32_t> tokens = {1, 9, 300, 41, 7};
    const auto la = fa.eval(tokens, true);
    const std::vector<float> first(la.begin(), la.end());
    const auto lb = fb.eval(tokens, true);
    for (size_t i = 0; i < first.size(); ++i) ASSERT_NEAR(first[i], lb[i], 1e-4) << i;
  }
}

// polyglot-ko's QLoRA adapters target query_key_value: merged into the GGUF (rows regrouped for the
// delta too) it must equal the HF merge converted, and `run --lora` on the GGUF the merged model.
TEST(GptNeox, QueryKeyValueAdapterMergesAndRunsOnTheGguf) {
  test::TempDir tmp;
  std::mt19937 rng(8);
  write_neox(tmp.file("m"), true, rng);
  to_gguf(tmp.file("m"), tmp.file("m.gguf"), "f32");
  TestAdapter ad;
  ad.config = {{"target_modules", {"query_key_value", "dense"}}, {"r", 2}, {"lora_alpha", 4}};
  for (uint64_t l = 0; l < kLayers; ++l) {
    const std::string p = "gpt_neox.layers." + std::to_string(l) + ".attention.";
    ad.modules[p + "query_key_value"] = linear_module(3 * kHidden, kHidden, 2, rng);
    ad.modules[p + "dense"] = linear_module(kHidden, kHidden, 2, rng);
  }
  write_adapter(tmp.file("ad"), ad);
  MergeOptions into_hf;
  into_hf.base = tmp.file("m");
  into_hf.adapters = {{tmp.file("ad"), 1.0}};
  into_hf.output = tmp.file("merged-hf");
  merge_lora(into_hf);
  to_gguf(tmp.file("merged-hf"), tmp.file("via-hf.gguf"), "f32");
  MergeOptions into_gguf = into_hf;
  into_gguf.base = tmp.file("m.gguf");
  into_gguf.output = tmp.file("merged.gguf");
  merge_lora(into_gguf);
  const GgufFile a = read_gguf(tmp.file("via-hf.gguf")), b = read_gguf(tmp.file("merged.gguf")), base = read_gguf(tmp.file("m.gguf"));
  for (const auto& t : a.tensors) {
    const auto* u = b.find_tensor(t.name);
    ASSERT_TRUE(u) << t.name;
    std::vector<float> x(shape_numel(t.ne).value()), y(x.size());
    decode_to_f32(t.dtype, a.data(t), x);
    decode_to_f32(u->dtype, b.data(*u), y);
    for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], 1e-6) << t.name << " " << i;
  }
  const auto* q0 = base.find_tensor("blk.0.attn_qkv.weight");
  EXPECT_FALSE(std::equal(base.data(*q0).begin(), base.data(*q0).end(), b.data(*b.find_tensor("blk.0.attn_qkv.weight")).begin()));

  runtime::Model with_lora = runtime::load_model(tmp.file("m.gguf"));
  runtime::attach_lora(with_lora, {{tmp.file("ad"), 1.0}});
  const runtime::Model merged = runtime::load_model(tmp.file("merged.gguf"));
  runtime::Forward fa(with_lora, 32, 2, runtime::KvType::F32), fb(merged, 32, 2, runtime::KvType::F32);
  const std::vector<int32_t> tokens = {1, 9, 300, 41, 7};
  const auto la = fa.eval(tokens, true);
  const std::vector<float> first(la.begin(), la.end());
  const auto lb = fb.eval(tokens, true);
  for (size_t i = 0; i < first.size(); ++i) ASSERT_NEAR(first[i], lb[i], 1e-4) << i;
}

}  // namespace
}  // namespace ckpt
