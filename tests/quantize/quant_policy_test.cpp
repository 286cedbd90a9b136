// llama-quantize's per-tensor choices (llama-quant.cpp, llama_tensor_get_type) on a 16-layer llama
// with GQA 4, worked out from its rules by hand; overrides and fallbacks. The interop tests check the
// same choices against libllama on a real file.
#include <gtest/gtest.h>

#include <map>

#include "quantize/quant_policy.h"

namespace ckpt {
namespace {

std::vector<std::string> llama_names(int layers, bool tied) {
  std::vector<std::string> names = {"token_embd.weight", "output_norm.weight"};
  if (!tied) names.push_back("output.weight");
  for (int i = 0; i < layers; ++i) {
    for (const char* t : {"attn_k", "attn_norm", "attn_output", "attn_q", "attn_v", "ffn_down", "ffn_gate", "ffn_norm", "ffn_up"}) {
      names.push_back("blk." + std::to_string(i) + "." + t + ".weight");
    }
  }
  sort_like_llama_cpp(names);
  return names;
}

std::map<std::string, DType> choose_all(const std::string& type, QuantOverrides o, bool tied = false, uint64_t ncols = 256) {
  const auto names = llama_names(16, tied);
  QuantModelFacts facts;
  facts.n_layer = 16;
  facts.n_gqa = 4;
  QuantPolicy policy(*find_gguf_quant_type(type), std::move(o), names, facts);
  std::map<std::string, DType> out;
  for (const auto& n : names) {
    if (QuantPolicy::allows_quantization(n, {ncols, 64})) out[n] = policy.choose(n, {ncols, 64});
  }
  return out;
}

TEST(QuantPolicy, Q3_K_M) {
  const auto t = choose_all("q3_k_m", {});
  EXPECT_EQ(t.at("output.weight"), DType::Q6_K);
  EXPECT_EQ(t.at("token_embd.weight"), DType::Q3_K);
  EXPECT_EQ(t.at("blk.0.attn_v.weight"), DType::Q5_K);  // the first two attn_v
  EXPECT_EQ(t.at("blk.1.attn_v.weight"), DType::Q5_K);
  EXPECT_EQ(t.at("blk.2.attn_v.weight"), DType::Q4_K);
  EXPECT_EQ(t.at("blk.0.ffn_down.weight"), DType::Q5_K);  // i < 16 / 16
  EXPECT_EQ(t.at("blk.1.ffn_down.weight"), DType::Q4_K);
  EXPECT_EQ(t.at("blk.7.attn_output.weight"), DType::Q4_K);
  EXPECT_EQ(t.at("blk.7.attn_q.weight"), DType::Q3_K);
  EXPECT_EQ(t.at("blk.7.ffn_up.weight"), DType::Q3_K);
  EXPECT_EQ(t.count("blk.7.ffn_norm.weight"), 0u);
}

TEST(QuantPolicy, Q2_KAndQ3_K_LAndIQ4_XS) {
  const auto q2 = choose_all("Q2_K", {});
  EXPECT_EQ(q2.at("blk.3.attn_v.weight"), DType::Q4_K);  // GQA >= 4
  EXPECT_EQ(q2.at("blk.3.ffn_down.weight"), DType::Q3_K);
  EXPECT_EQ(q2.at("blk.3.attn_output.weight"), DType::Q3_K);
  EXPECT_EQ(q2.at("blk.3.ffn_gate.weight"), DType::Q2_K);
  const auto q3l = choose_all("Q3_K_L", {});
  EXPECT_EQ(q3l.at("blk.9.attn_v.weight"), DType::Q5_K);
  EXPECT_EQ(q3l.at("blk.9.ffn_down.weight"), DType::Q5_K);
  EXPECT_EQ(q3l.at("blk.9.attn_output.weight"), DType::Q5_K);
  // IQ4_XS: ffn_down of the first n/8 layers gets Q5_K, but not with an imatrix.
  const auto iq = choose_all("IQ4_XS", {});
  EXPECT_EQ(iq.at("blk.1.ffn_down.weight"), DType::Q5_K);
  EXPECT_EQ(iq.at("blk.2.ffn_down.weight"), DType::IQ4_XS);
  QuantOverrides with_imatrix;
  with_imatrix.has_imatrix = true;
  EXPECT_EQ(choose_all("IQ4_XS", with_imatrix).at("blk.1.ffn_down.weight"), DType::IQ4_XS);
  // Q4_0 with an imatrix guards the first ffn_down layers with Q4_1.
  EXPECT_EQ(choose_all("Q4_0", with_imatrix).at("blk.0.ffn_down.weight"), DType::Q4_1);
  EXPECT_EQ(choose_all("Q4_0", {}).at("blk.0.ffn_down.weight"), DType::Q4_0);
}

TEST(QuantPolicy, OverridesAndFallbacks) {
  QuantOverrides o;
  o.output_type = DType::Q8_0;
  o.token_embedding_type = DType::Q5_0;
  o.tensor_types.emplace_back(std::regex("attn_v"), DType::Q6_K);
  o.tensor_types.emplace_back(std::regex("blk\\.1\\..*"), DType::Q4_1);  // attn_v matched first
  const auto t = choose_all("Q4_K_M", o);
  EXPECT_EQ(t.at("output.weight"), DType::Q8_0);
  EXPECT_EQ(t.at("token_embd.weight"), DType::Q5_0);
  EXPECT_EQ(t.at("blk.1.attn_v.weight"), DType::Q6_K);
  EXPECT_EQ(t.at("blk.1.ffn_down.weight"), DType::Q4_1);
  // Tied embeddings take the output type.
  QuantOverrides out_only;
  out_only.output_type = DType::Q8_0;
  EXPECT_EQ(choose_all("Q4_K_M", out_only, /*tied=*/true).at("token_embd.weight"), DType::Q8_0);
  // Rows of 64 do not fill a 256-block: Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, IQ4_XS -> IQ4_NL.
  const auto narrow = choose_all("Q3_K_M", {}, false, 64);
  EXPECT_EQ(narrow.at("blk.5.attn_q.weight"), DType::Q4_0);
  EXPECT_EQ(narrow.at("blk.5.attn_v.weight"), DType::Q5_0);
  EXPECT_EQ(narrow.at("blk.0.ffn_down.weight"), DType::Q5_1);
  EXPECT_EQ(choose_all("IQ4_XS", {}, false, 64).at("blk.5.attn_q.weight"), DType::IQ4_NL);
  EXPECT_EQ(choose_all("Q3_K_M", {}, false, 48).at("blk.5.attn_q.weight"), DType::F16);  // not even 32
}

TEST(QuantPolicy, NamesNumbersAndWhatIsNeverQuantized) {
  EXPECT_EQ(find_gguf_quant_type("15")->name, "Q4_K_M");
  EXPECT_EQ(find_gguf_quant_type("q3_k_l")->llama_ftype, 13u);
  EXPECT_EQ(find_gguf_quant_type("30")->default_type, DType::IQ4_XS);
  EXPECT_TRUE(find_gguf_quant_type("Q2_K_S")->requires_imatrix);
  EXPECT_FALSE(find_gguf_quant_type("99"));
  EXPECT_FALSE(find_gguf_quant_type("Q3_Z"));
  EXPECT_FALSE(QuantPolicy::allows_quantization("blk.0.attn_q.weight", {256, 1}));  // ggml_n_dims 1
  EXPECT_TRUE(QuantPolicy::allows_quantization("blk.0.attn_q.weight", {256, 2}));
  EXPECT_FALSE(QuantPolicy::allows_quantization("blk.0.ssm_conv1d.weight", {4, 256}));
  EXPECT_FALSE(QuantPolicy::allows_quantization("blk.0.ffn_gate_inp.weight", {256, 8}));
  EXPECT_FALSE(QuantPolicy::allows_quantization("blk.0.attn_q.bias", {256, 2}));
}

}  // namespace
}  // namespace ckpt
