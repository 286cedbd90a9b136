// Loading: an HF directory read in place (unpermuted Q/K, neox rope) must give the logits of its
// GGUF conversion (permuted Q/K, normal rope); inconsistent files fail with the field named.
#include <filesystem>

#include "convert/convert.h"
#include "quantize/quantize_bnb.h"
#include "runtime/runtime.h"
#include "tests/runtime/random_model.h"
#include "tests/support/test_support.h"

namespace ckpt::runtime {
namespace {

AgreementReport hf_vs_gguf(const std::string& hf_dir, const std::string& gguf_path, const std::vector<int32_t>& tokens) {
  ConvertOptions options;
  options.input = hf_dir;
  options.output = gguf_path;
  options.outtype = "f32";
  convert(options);
  const Model hf = load_model(hf_dir);
  const Model gguf = load_model(gguf_path);
  EXPECT_EQ(hf.hp.rope_style, hf.hp.arch == Arch::Gpt2 ? RopeStyle::Interleaved : RopeStyle::Halves);
  Forward a(hf, 64, 2, KvType::F32), b(gguf, 64, 2, KvType::F32);
  return check_agreement(a, b, tokens);
}

TEST(HfDirectory, TinyLlamaAgreesWithItsGgufConversion) {
  test::TempDir dir;
  const auto r = hf_vs_gguf(std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama", dir.file("t.gguf"),
                            {1, 300, 20, 7, 411, 95, 3, 250, 17, 42});
  EXPECT_EQ(r.top1_agreement, 1.0);
  EXPECT_LT(r.max_abs_diff, 1e-4);  // bf16 weights read as bf16 vs converted to f32: same values
}

TEST(HfDirectory, Gpt2AgreesWithItsGgufConversion) {
  CKPT_SHARED_OR_SKIP(dir_path, "lm-buddy-fake_gpt2/model.safetensors");
  test::TempDir dir;
  const auto r = hf_vs_gguf(test::shared_data("lm-buddy-fake_gpt2"), dir.file("g.gguf"), {15496, 995, 11, 314, 716});
  EXPECT_EQ(r.top1_agreement, 1.0);
  EXPECT_LT(r.max_abs_diff, 1e-4);
}

// A bitsandbytes NF4 (double-quantized) directory runs on its 4-bit codes; `ckpt convert` of the same
// directory dequantizes every weight to f32 with the quantize library (tested against bnb's values),
// so both must give the same logits.
TEST(HfDirectory, Bnb4RunsOnItsCodesAndAgreesWithDequantizedWeights) {
  for (const char* type : {"nf4-dq", "fp4"}) {
    SCOPED_TRACE(type);
    test::TempDir dir;
    QuantizeOptions q;
    q.input = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
    q.output = dir.file("bnb");
    q.blocksize = 32;
    quantize_hf_to_bnb(q, *parse_bnb_type(type));
    const Model bnb = load_model(q.output);
    EXPECT_TRUE(bnb.layers[0].w_up.bnb4);
    EXPECT_EQ(bnb.layers[0].w_up.bnb4_block, 32u);
    const auto r = hf_vs_gguf(q.output, dir.file("deq.gguf"), {1, 300, 20, 7, 411, 95, 3, 250});
    EXPECT_EQ(r.top1_agreement, 1.0);
    EXPECT_LT(r.max_abs_diff, 1e-4);
  }
}

struct HostileCase {
  const char* name;
  test::RandomModelSpec spec;
  ErrorCode code;
  const char* field;
};

std::vector<HostileCase> hostile_cases() {
  std::vector<HostileCase> cases;
  auto add = [&](const char* name, ErrorCode code, const char* field, auto tweak) {
    test::RandomModelSpec s;
    s.n_layer = 1;
    tweak(s);
    cases.push_back({name, s, code, field});
  };
  add("wrong_embedding_length", ErrorCode::BadShape, "token_embd.weight", [](auto& s) { s.override_u32["llama.embedding_length"] = 128; });
  add("wrong_ff_length", ErrorCode::BadShape, "blk.0.ffn_up.weight", [](auto& s) { s.override_u32["llama.feed_forward_length"] = 100; });
  add("kv_heads_do_not_divide", ErrorCode::BadShape, "llama.attention.head_count_kv", [](auto& s) { s.override_u32["llama.attention.head_count_kv"] = 3; });
  add("zero_heads", ErrorCode::BadShape, "llama.attention.head_count", [](auto& s) { s.override_u32["llama.attention.head_count"] = 0; });
  add("absurd_layer_count", ErrorCode::TooLarge, "llama.block_count", [](auto& s) { s.override_u32["llama.block_count"] = 4000000000u; });
  add("more_layers_than_tensors", ErrorCode::NotFound, "blk.1.attn_norm.weight", [](auto& s) { s.override_u32["llama.block_count"] = 2; });
  add("missing_tensor", ErrorCode::NotFound, "blk.0.ffn_gate.weight", [](auto& s) { s.drop_tensors = {"blk.0.ffn_gate.weight"}; });
  add("unknown_architecture", ErrorCode::Unsupported, "general.architecture", [](auto& s) { s.override_arch = "mamba"; });
  return cases;
}

TEST(HostileModel, InconsistentFilesFailWithTheFieldNamed) {
  for (const auto& c : hostile_cases()) {
    SCOPED_TRACE(c.name);
    test::TempDir dir;
    test::write_random_model(c.spec, dir.file("m.gguf"));
    const Error e = test::expect_error(c.code, [&] { load_model(dir.file("m.gguf")); });
    EXPECT_EQ(e.field(), c.field) << e.what();
    EXPECT_NE(e.file().find("m.gguf"), std::string::npos) << e.what();
  }
}

// A .ckpt archive runs as the model it was made from: the same logits to the last bit (the same
// stored bytes through the same kernels), and its matrices are read where the archive maps them
// (every tensor sits on a 4096-byte boundary of the file, so each weight pointer is page-aligned;
// the GGUF and safetensors sources are not).
TEST(ArchiveModel, RunsInPlaceWithTheLogitsOfItsSource) {
  test::TempDir dir;
  const std::string sample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
  ConvertOptions q8;
  q8.input = sample;
  q8.output = dir.file("q8.gguf");
  q8.outtype = "q8_0";
  convert(q8);
  QuantizeOptions nf4;
  nf4.input = sample;
  nf4.output = dir.file("nf4");
  nf4.type = "nf4-dq";
  quantize_hf_to_bnb(nf4, *parse_bnb_type("nf4-dq"));
  const std::vector<int32_t> tokens = {1, 300, 20, 7, 411, 95, 3, 250, 17, 42};
  for (const std::string source : {sample, dir.file("q8.gguf"), dir.file("nf4")}) {
    SCOPED_TRACE(source);
    const std::string archive = dir.file("m.ckpt");
    std::filesystem::remove(archive);
    ConvertOptions to;
    to.input = source;
    to.output = archive;
    to.to = "ckpt";
    convert(to);
    const Model original = load_model(source), in_archive = load_model(archive);
    Forward a(original, 64, 1, KvType::F32), b(in_archive, 64, 1, KvType::F32);
    const AgreementReport r = check_agreement(a, b, tokens);
    EXPECT_EQ(r.max_abs_diff, 0.0);
    EXPECT_EQ(r.top1_agreement, 1.0);
    if (source.ends_with("nf4")) continue;  // 4-bit codes are viewed, their absmax dequantized at load
    size_t matrices = 0, aligned_in_source = 0;
    for (size_t l = 0; l < in_archive.layers.size(); ++l) {
      const Layer& x = in_archive.layers[l];
      const Layer& y = original.layers[l];
      for (auto [w, o] : {std::pair{&x.wq, &y.wq}, {&x.wk, &y.wk}, {&x.wv, &y.wv}, {&x.wo, &y.wo}, {&x.w_gate, &y.w_gate}, {&x.w_up, &y.w_up}, {&x.w_down, &y.w_down}}) {
        if (!w->present()) continue;
        ++matrices;
        EXPECT_EQ(reinterpret_cast<uintptr_t>(w->data) % 4096, 0u) << w->name;
        aligned_in_source += reinterpret_cast<uintptr_t>(o->data) % 4096 == 0;
      }
    }
    EXPECT_EQ(matrices, 7 * in_archive.layers.size());
    EXPECT_LT(aligned_in_source, matrices);  // the check could fail: the source's own layout is not page-aligned
  }
}

}  // namespace
}  // namespace ckpt::runtime
