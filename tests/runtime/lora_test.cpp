// run --lora: adapters applied at run time give the logits of the merged model (ckpt merge, itself
// checked against a float64 reference in merge_test), on f32/bf16 HF bases and quantized GGUF bases.
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "convert/merge.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;
using runtime::Forward;
using runtime::KvType;

std::vector<float> logits(const runtime::Model& m, const std::vector<int32_t>& tokens) {
  Forward f(m, 64, 2, KvType::F32);
  const auto l = f.eval(tokens, /*all_logits=*/true);
  return {l.begin(), l.end()};
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

void merge_into(const std::string& base, const std::string& adapter, double weight, const std::string& out) {
  MergeOptions o;
  o.base = base;
  o.adapters.push_back({adapter, weight});
  o.output = out;
  o.outtype = out.ends_with(".gguf") ? "" : "f32";
  merge_lora(o);
}

TestAdapter attention_and_mlp_adapter(const Tensors& base, std::mt19937& rng, bool dora = false) {
  TestAdapter ad;
  ad.config = {{"r", 4}, {"lora_alpha", 8}, {"use_rslora", true}, {"use_dora", dora}};
  for (const char* m : {"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "model.layers.1.mlp.down_proj", "lm_head"}) {
    const Mat& w = base.at(std::string(m) + ".weight");
    ad.modules[m] = linear_module(w.rows(), w.cols(), 4, rng);
    for (auto& x : ad.modules[m].b.v) x *= 5;  // a delta large enough to move the logits
    if (dora) {
      auto mag = random_mat({w.rows()}, rng, 0.05);
      for (auto& x : mag.v) x = std::fabs(x) + 0.2;
      ad.modules[m].magnitude = mag;
    }
  }
  return ad;
}

const std::vector<int32_t> kTokens = {1, 17, 250, 33, 99, 4, 480, 12};

TEST(RunLora, HfBaseWithAdapterEqualsTheMergedModel) {
  test::TempDir tmp;
  std::mt19937 rng(21);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  const TestAdapter ad = attention_and_mlp_adapter(base, rng);
  write_adapter(tmp.file("ad"), ad);
  merge_into(tmp.file("base"), tmp.file("ad"), 0.5, tmp.file("merged"));
  runtime::Model with = runtime::load_model(tmp.file("base"));
  runtime::attach_lora(with, {{tmp.file("ad"), 0.5}});
  const auto merged = logits(runtime::load_model(tmp.file("merged")), kTokens);
  const auto applied = logits(with, kTokens);
  const auto plain = logits(runtime::load_model(tmp.file("base")), kTokens);
  EXPECT_LT(max_abs_diff(applied, merged), 2e-4);
  EXPECT_GT(max_abs_diff(plain, merged), 100 * max_abs_diff(applied, merged)) << "the adapter must matter for this test to mean anything";
}

TEST(RunLora, GgufBaseWithPeftOrGgufAdapterEqualsTheMergedModel) {
  test::TempDir tmp;
  std::mt19937 rng(22);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("base.gguf"), "f32");
  const TestAdapter ad = attention_and_mlp_adapter(base, rng);
  write_adapter(tmp.file("ad"), ad);
  convert(adapter_convert(tmp.file("ad"), tmp.file("base"), tmp.file("ad.gguf")));
  merge_into(tmp.file("base.gguf"), tmp.file("ad"), 1.0, tmp.file("merged.gguf"));
  const auto merged = logits(runtime::load_model(tmp.file("merged.gguf")), kTokens);
  for (const std::string adapter : {tmp.file("ad"), tmp.file("ad.gguf")}) {
    runtime::Model with = runtime::load_model(tmp.file("base.gguf"));
    runtime::attach_lora(with, {{adapter, 1.0}});
    EXPECT_LT(max_abs_diff(logits(with, kTokens), merged), 2e-4) << adapter;
  }
  // A GGUF LoRA on the HF base (rows un-permuted) equals it too.
  runtime::Model hf = runtime::load_model(tmp.file("base"));
  runtime::attach_lora(hf, {{tmp.file("ad.gguf"), 1.0}});
  EXPECT_LT(max_abs_diff(logits(hf, kTokens), merged), 2e-4);
}

TEST(RunLora, DoraAtRunTimeEqualsTheMergedModel) {
  test::TempDir tmp;
  std::mt19937 rng(23);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  const TestAdapter ad = attention_and_mlp_adapter(base, rng, /*dora=*/true);
  write_adapter(tmp.file("ad"), ad);
  merge_into(tmp.file("base"), tmp.file("ad"), 1.0, tmp.file("merged"));
  runtime::Model with = runtime::load_model(tmp.file("base"));
  runtime::attach_lora(with, {{tmp.file("ad"), 1.0}});
  EXPECT_LT(max_abs_diff(logits(with, kTokens), logits(runtime::load_model(tmp.file("merged")), kTokens)), 2e-4);
}

TEST(RunLora, ModulesToSaveAreRefusedWithAdviceToMerge) {
  test::TempDir tmp;
  std::mt19937 rng(24);
  const Tensors base = make_base(tmp.file("base"), DType::F32, rng);
  TestAdapter ad;
  ad.full["lm_head.weight"] = random_mat({512, 64}, rng, 0.05);
  write_adapter(tmp.file("ad"), ad);
  runtime::Model m = runtime::load_model(tmp.file("base"));
  try {
    runtime::attach_lora(m, {{tmp.file("ad"), 1.0}});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("ckpt merge"), std::string::npos);
  }
}

}  // namespace
}  // namespace ckpt
