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

// An architecture ckpt has no table for is refused before anything is written, naming the closest
// table and the tensors it could not map (Mixtral's experts here).
TEST(UnsupportedArchitecture, IsRefusedNamingTheTensorsItCannotMap) {
  test::TempDir tmp;
  std::mt19937 rng(44);
  Tensors t = make_base(tmp.file("moe"), DType::F32, rng, {{"architectures", {"MixtralForCausalLM"}}});
  t["model.layers.0.block_sparse_moe.gate.weight"] = random_mat({4, 64}, rng, 0.1);
  t["model.layers.1.block_sparse_moe.gate.weight"] = random_mat({4, 64}, rng, 0.1);
  write_tensors(tmp.file("moe/model.safetensors"), t, DType::F32);
  const Error e = test::expect_error(ErrorCode::Unsupported, [&] { to_gguf(tmp.file("moe"), tmp.file("moe.gguf"), "f16"); });
  const std::string what = e.what();
  EXPECT_NE(what.find("'MixtralForCausalLM' is not supported"), std::string::npos) << what;
  EXPECT_NE(what.find("closest table llama"), std::string::npos) << what;
  EXPECT_NE(what.find("model.layers.1.block_sparse_moe.gate.weight"), std::string::npos) << what;
  EXPECT_FALSE(fs::exists(tmp.file("moe.gguf")));
}

// A ggml type id past every type ckpt knows (as the next ggml release may add): inspect lists the file
// with "type 60 (unknown)" for that tensor and its neighbours intact; reading its data is refused
// with the file, the field and the offset of the type.
TEST(ModernGguf, UnknownTypeIsShownByInspectAndRefusedElsewhere) {
  test::TempDir tmp;
  std::mt19937 rng(43);
  make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("m.gguf"), "f32");
  const GgufFile g = read_gguf(tmp.file("m.gguf"));
  const GgufTensorInfo* t = g.find_tensor("blk.0.ffn_up.weight");
  ASSERT_TRUE(t);
  const uint64_t type_at = t->info_offset_in_file + 8 + t->name.size() + 4 + 8 * t->ne.size();
  auto bytes = test::read_file_bytes(tmp.file("m.gguf"));
  const int32_t future = 60;
  std::memcpy(bytes.data() + type_at, &future, 4);
  test::write_file_bytes(tmp.file("future.gguf"), bytes);

  const InspectReport report = inspect_path(tmp.file("future.gguf"), InspectOptions{});
  const std::string text = render_inspect_text(report);
  EXPECT_NE(text.find("type 60 (unknown)"), std::string::npos) << text;
  bool neighbour = false;
  for (const auto& row : report.tensors) {
    if (row.info.name == "blk.0.ffn_up.weight") EXPECT_EQ(row.info.n_bytes, t->n_bytes);  // up to the next tensor (aligned already)
    neighbour |= row.info.name == "blk.0.ffn_down.weight" && row.info.dtype == DType::F32;
  }
  EXPECT_TRUE(neighbour);
  const Error e = test::expect_error(ErrorCode::BadDType, [&] { read_gguf(tmp.file("future.gguf")); });
  EXPECT_EQ(e.offset(), type_at);
  EXPECT_NE(std::string(e.what()).find("newer than this ckpt knows"), std::string::npos);
  test::expect_error(ErrorCode::BadDType, [&] { runtime::load_model(tmp.file("future.gguf")); });
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

#include "formats/fp8_fold.h"
#include "formats/float_convert.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

std::vector<std::byte> byte_vec(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int x : v) out.push_back(static_cast<std::byte>(x));
  return out;
}

// A [4, 6] E4M3 weight in blocks of [2, 4] (so the second column block is cut to 2), by hand:
// 0x38 = 1.0, 0x40 = 2.0, 0x3C = 1.5, 0xB8 = -1.0, 0x30 = 0.5, 0x00 = 0.
TEST(Fp8, BlockScalesDequantizeAsHandComputed) {
  const auto w = byte_vec({0x38, 0x40, 0x3C, 0xB8, 0x30, 0x00,  //
                           0x40, 0x38, 0x30, 0x3C, 0xB8, 0x38,  //
                           0xB8, 0x00, 0x38, 0x40, 0x3C, 0x30,  //
                           0x30, 0x3C, 0x40, 0x38, 0x00, 0xB8});
  const std::vector<float> s = {2.0f, 0.5f, 4.0f, 1.5f};
  const auto file = test::memory_file(w, "w");
  const auto sfile = test::memory_file(std::as_bytes(std::span(s)), "s");
  SourceTensor wt{"x.weight", DType::F8_E4M3, {4, 6}, file->bytes(), file, {}, DType::F8_E4M3, ""};
  SourceTensor st{"x.weight_scale_inv", DType::F32, {2, 2}, sfile->bytes(), sfile, {}, DType::F32, ""};
  const std::vector<float> want = {2, 4, 3, -2, 0.25f, 0,  //
                                   4, 2, 1, 3, -0.5f, 0.5f,  //
                                   -4, 0, 4, 8, 2.25f, 0.75f,  //
                                   2, 6, 8, 4, 0, -1.5f};
  EXPECT_EQ(dequantize_fp8(wt, st, {2, 4}), want);
  // Per-output-channel scales broadcast over columns.
  const std::vector<float> per_row = {1.0f, 2.0f, 0.5f, -1.0f};
  const auto rfile = test::memory_file(std::as_bytes(std::span(per_row)), "r");
  SourceTensor rt{"x.weight_scale", DType::F32, {4, 1}, rfile->bytes(), rfile, {}, DType::F32, ""};
  const auto rows = dequantize_fp8(wt, rt, {});
  EXPECT_EQ(rows[6], 4.0f);    // 2.0 * 2
  EXPECT_EQ(rows[23], 1.0f);   // -1.0 * -1
}

// An FP8 checkpoint (block scales, as DeepSeek/Qwen3-FP8 ship) converts to the same GGUF tensors as its
// dequantized bf16 twin.
TEST(Fp8, CheckpointConvertsLikeItsDequantizedTwin) {
  test::TempDir tmp;
  std::mt19937 rng(43);
  const Tensors base = make_base(tmp.file("twin"), DType::F32, rng);
  Tensors twin = base;
  std::vector<TensorToWrite> fp8;
  std::vector<std::shared_ptr<std::vector<std::byte>>> keep;
  std::uniform_int_distribution<int> code(0x20, 0x48), sign(0, 1);
  for (auto& [name, m] : twin) {
    const bool quantize = m.shape.size() == 2 && name.find("_proj.weight") != std::string::npos;
    if (!quantize) {  // as the twin stores it: bf16
      auto bytes = std::make_shared<std::vector<std::byte>>(m.v.size() * 2);
      std::vector<float> f(m.v.begin(), m.v.end());
      encode_from_f32(DType::BF16, f, *bytes);
      keep.push_back(bytes);
      fp8.push_back({name, DType::BF16, m.shape, write_bytes_from(*bytes)});
      continue;
    }
    const uint64_t rows = m.shape[0], cols = m.shape[1], br = (rows + 31) / 32, bc = (cols + 31) / 32;
    auto codes = std::make_shared<std::vector<std::byte>>(rows * cols);
    auto scales = std::make_shared<std::vector<std::byte>>(br * bc * 4);
    std::vector<float> s(br * bc);
    for (size_t i = 0; i < s.size(); ++i) s[i] = std::ldexp(1.0f, static_cast<int>(i % 5) - 8);
    std::memcpy(scales->data(), s.data(), scales->size());
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t c = 0; c < cols; ++c) {
        const int b = code(rng) | (sign(rng) << 7);
        (*codes)[r * cols + c] = static_cast<std::byte>(b);
        m.v[r * cols + c] = static_cast<double>(f8_e4m3_to_f32(static_cast<uint8_t>(b))) * s[(r / 32) * bc + c / 32];
      }
    }
    keep.push_back(codes);
    keep.push_back(scales);
    fp8.push_back({name, DType::F8_E4M3, m.shape, write_bytes_from(*codes)});
    fp8.push_back({name + "_scale_inv", DType::F32, {br, bc}, write_bytes_from(*scales)});
  }
  write_tensors(tmp.file("twin/model.safetensors"), twin, DType::BF16);  // exact: 3-bit mantissas times 2^k
  fs::create_directories(tmp.file("fp8"));
  write_safetensors(tmp.file("fp8/model.safetensors"), std::move(fp8), {{"format", "pt"}});
  auto config = nlohmann::json::parse(std::ifstream(tmp.file("twin/config.json")));
  config["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {32, 32}}, {"activation_scheme", "dynamic"}};
  std::ofstream(tmp.file("fp8/config.json")) << config.dump();
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) fs::copy_file(fs::path(tmp.file("twin")) / f, fs::path(tmp.file("fp8")) / f);
  to_gguf(tmp.file("twin"), tmp.file("twin.gguf"), "f32");
  to_gguf(tmp.file("fp8"), tmp.file("fp8.gguf"), "f32");
  const GgufFile a = read_gguf(tmp.file("twin.gguf")), b = read_gguf(tmp.file("fp8.gguf"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& t : a.tensors) {
    const auto* u = b.find_tensor(t.name);
    ASSERT_TRUE(u) << t.name;
    const auto x = a.data(t), y = b.data(*u);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << t.name;
  }
}

}  // namespace
}  // namespace ckpt
