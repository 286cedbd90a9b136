// GGUF types newer than ckpt's quantizers (MXFP4 as gpt-oss ships its experts): a file holding them is
// inspected, converted back to HF (dequantized) and run, instead of being refused as "invalid".
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "inspect/inspect.h"
#include "quantize/quantize.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

TEST(ModernGguf, Mxfp4TensorsInspectConvertBackAndRun) {
  test::TempDir tmp;
  std::mt19937 rng(41);
  make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("f32.gguf"), "f32");
  // Rewrite blk.0.ffn_up.weight (ne {64, 192}) as MXFP4 blocks made here.
  const GgufFile src = read_gguf(tmp.file("f32.gguf"));
  std::vector<GgufTensorToWrite> tensors;
  std::vector<std::byte> mx(192 * 2 * 17);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t b = 0; b < 192 * 2; ++b) {
    mx[b * 17] = static_cast<std::byte>(120 + b % 8);  // scales 2^-7 .. 2^0
    for (int j = 1; j < 17; ++j) mx[b * 17 + j] = static_cast<std::byte>(byte(rng));
  }
  for (const auto& t : src.tensors) {
    if (t.name == "blk.0.ffn_up.weight") {
      tensors.push_back({t.name, t.ne, DType::MXFP4, write_bytes_from(mx)});
    } else {
      tensors.push_back({t.name, t.ne, t.dtype, write_bytes_from(src.file, src.data(t))});
    }
  }
  write_gguf(tmp.file("mx.gguf"), src.kvs, tensors);

  InspectOptions io;
  const InspectReport report = inspect_path(tmp.file("mx.gguf"), io);
  EXPECT_NE(render_inspect_text(report).find("MXFP4"), std::string::npos);

  ConvertOptions back;
  back.input = tmp.file("mx.gguf");
  back.output = tmp.file("hf");
  back.to = "hf";
  back.outtype = "f32";
  convert(back);
  const Tensors hf = read_tensors(tmp.file("hf"));
  std::vector<float> want(192 * 64);
  decode_to_f32(DType::MXFP4, mx, want);
  const auto& got = hf.at("model.layers.0.mlp.up_proj.weight").v;
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;

  runtime::Model m = runtime::load_model(tmp.file("mx.gguf"));
  runtime::Forward f(m, 16, 2, runtime::KvType::F32);
  const std::vector<int32_t> tokens = {1, 7, 99};
  for (float v : f.eval(tokens)) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

// Qwen3: per-head q/k RMSNorm weights and an explicit head_dim. HF -> GGUF -> HF gives the same tensors
// (f32, byte for byte) and config, and the HF directory runs like its GGUF.
TEST(Qwen3, ConvertsBothWaysAndRunsLikeItsGguf) {
  test::TempDir tmp;
  std::mt19937 rng(42);
  Tensors base = make_base(tmp.file("base"), DType::F32, rng,
                           {{"architectures", {"Qwen3ForCausalLM"}}, {"model_type", "qwen3"}, {"head_dim", 16}, {"tie_word_embeddings", true}});
  for (int l = 0; l < 2; ++l) {
    for (const char* n : {"q_norm", "k_norm"}) {
      Mat m = random_mat({16}, rng, 0.1);
      for (auto& x : m.v) x = round_to(DType::F32, 1.0 + x);
      base["model.layers." + std::to_string(l) + ".self_attn." + n + ".weight"] = m;
    }
  }
  write_tensors(tmp.file("base/model.safetensors"), base, DType::F32);
  to_gguf(tmp.file("base"), tmp.file("q3.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("q3.gguf"));
  EXPECT_EQ(*g.find_kv("general.architecture")->value.as_string(), "qwen3");
  EXPECT_EQ(g.find_kv("qwen3.attention.key_length")->value.as_u64(), 16u);
  ASSERT_TRUE(g.find_tensor("blk.1.attn_k_norm.weight"));
  ConvertOptions back;
  back.input = tmp.file("q3.gguf");
  back.output = tmp.file("back");
  back.to = "hf";
  convert(back);
  const Tensors again = read_tensors(tmp.file("back"));
  for (const auto& [name, m] : base) {
    ASSERT_TRUE(again.count(name)) << name;
    EXPECT_EQ(again.at(name).v, m.v) << name;
  }
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(tmp.file("back/config.json")))["head_dim"], 16);

  const runtime::Model hf = runtime::load_model(tmp.file("base")), gg = runtime::load_model(tmp.file("q3.gguf"));
  ASSERT_FALSE(hf.layers[0].attn_q_norm.empty());
  runtime::Forward a(hf, 32, 2, runtime::KvType::F32), b(gg, 32, 2, runtime::KvType::F32);
  const std::vector<int32_t> tokens = {1, 9, 300, 41, 7};
  const auto la = a.eval(tokens, true);
  const std::vector<float> first(la.begin(), la.end());
  const auto lb = b.eval(tokens, true);
  for (size_t i = 0; i < first.size(); ++i) ASSERT_NEAR(first[i], lb[i], 1e-4) << i;
}

}  // namespace
}  // namespace ckpt
