// The model-source layer: every input kind opens to the same view (names, dtypes, PyTorch-order shapes,
// bytes), adapters are recognized as adapters, and hostile directories fail with the usual error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "formats/model_source.h"
#include "formats/safetensors.h"
#include "tests/support/test_support.h"
#include "tests/support/torch_bin_writer.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::vector<std::byte> floats(std::initializer_list<float> v) {
  std::vector<std::byte> out(v.size() * 4);
  std::memcpy(out.data(), std::data(v), out.size());
  return out;
}

TEST(ModelSource, SampleDirectory) {
  const ModelSource s = open_model_source(CKPT_SOURCE_DIR "/samples/tiny-llama");
  EXPECT_EQ(s.kind, SourceKind::HfCheckpoint);
  ASSERT_TRUE(s.config_path.has_value());
  EXPECT_TRUE(s.config_path->ends_with("config.json"));
  EXPECT_EQ(s.tensors.size(), 21u);  // embed, norm, lm_head + 2 layers x 9
  const SourceTensor* q = s.find("model.layers.0.self_attn.q_proj.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::BF16);
  EXPECT_EQ(q->shape, (std::vector<uint64_t>{64, 64}));
  EXPECT_EQ(q->data.size(), 64u * 64u * 2u);
  const auto inputs = s.input_files();
  EXPECT_NE(std::find_if(inputs.begin(), inputs.end(), [](const auto& f) { return f.ends_with("tokenizer.json"); }), inputs.end());
}

TEST(ModelSource, TorchBinDirectoryMatchesWhatWasSaved) {
  test::TempDir dir;
  const auto a = floats({1, 2, 3, 4, 5, 6});
  const auto b = floats({-1, 0.5f});
  test::write_file_bytes(dir.file("pytorch_model.bin"),
                         test::torch_save_bytes({{"model.a", DType::F32, {2, 3}, a}, {"model.b", DType::F32, {2}, b}}));
  write_text(dir.path() / "config.json", "{}");
  const ModelSource s = open_model_source(dir.path().string());
  EXPECT_EQ(s.kind, SourceKind::HfCheckpoint);
  EXPECT_EQ(s.format, "pytorch .bin");
  const SourceTensor* t = s.find("model.a");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(std::equal(t->data.begin(), t->data.end(), a.begin(), a.end()));
  // The single file opens the same tensors.
  const ModelSource f = open_model_source(dir.file("pytorch_model.bin"));
  EXPECT_EQ(f.kind, SourceKind::TorchBin);
  EXPECT_EQ(f.tensors.size(), 2u);
}

TEST(ModelSource, GgufShapesArePyTorchOrder) {
  test::TempDir dir;
  const auto data = std::make_shared<std::vector<std::byte>>(floats({1, 2, 3, 4, 5, 6}));
  write_gguf(dir.file("m.gguf"), {{"general.architecture", {"llama"s}, 0}},
             {{"w", {3, 2}, DType::F32, [data](ByteSink& s) { s.write(*data); }}});
  const ModelSource s = open_model_source(dir.file("m.gguf"));
  EXPECT_EQ(s.kind, SourceKind::Gguf);
  ASSERT_TRUE(s.gguf.has_value());
  EXPECT_EQ(s.find("w")->shape, (std::vector<uint64_t>{2, 3}));
  EXPECT_TRUE(std::equal(s.find("w")->data.begin(), s.find("w")->data.end(), data->begin(), data->end()));
}

TEST(ModelSource, GgufLoraAdapterIsAnAdapter) {
  test::TempDir dir;
  const auto zeros = std::make_shared<std::vector<std::byte>>(4 * 4 * 32);
  auto writer = [zeros](size_t n) { return [zeros, n](ByteSink& s) { s.write(std::span(*zeros).first(n)); }; };
  write_gguf(dir.file("lora.gguf"),
             {{"general.architecture", {"llama"s}, 0}, {"general.type", {"adapter"s}, 0}, {"adapter.type", {"lora"s}, 0},
              {"adapter.lora.alpha", {16.0f}, 0}},
             {{"blk.0.attn_q.weight.lora_a", {32, 4}, DType::F32, writer(4 * 32 * 4)},
              {"blk.0.attn_q.weight.lora_b", {4, 32}, DType::F32, writer(4 * 32 * 4)}});
  const ModelSource s = open_model_source(dir.file("lora.gguf"));
  EXPECT_EQ(s.kind, SourceKind::GgufAdapter);
  ASSERT_TRUE(s.adapter.has_value());
  EXPECT_EQ(s.adapter->r, 4u);
  EXPECT_EQ(s.adapter->lora_alpha, 16.0);
  EXPECT_EQ(s.adapter->scale(), 4.0);
  EXPECT_EQ(s.adapter->target_modules, (std::vector<std::string>{"attn_q"}));
}

TEST(ModelSource, PeftAdapterFromShared) {
  CKPT_SHARED_OR_SKIP(dir, "peft-gpt2-lora-tigrinya");
  const ModelSource s = open_model_source(dir);
  EXPECT_EQ(s.kind, SourceKind::PeftAdapter);
  ASSERT_TRUE(s.adapter.has_value());
  // adapter_config.json, read independently of the code under test: r 8, lora_alpha 32.
  EXPECT_EQ(s.adapter->r, 8u);
  EXPECT_EQ(s.adapter->lora_alpha, 32.0);
  EXPECT_EQ(s.adapter->scale(), 4.0);
  EXPECT_TRUE(s.adapter->fan_in_fan_out);
  EXPECT_FALSE(s.adapter->use_dora);
  EXPECT_EQ(s.adapter->base_model, "gpt2");
  EXPECT_EQ(s.adapter->target_modules, (std::vector<std::string>{"c_attn", "c_proj"}));
  bool saw_lora_a = false;
  for (const auto& t : s.tensors) saw_lora_a |= t.name.find("lora_A") != std::string::npos && t.shape.size() == 2 && t.shape[0] == 8;
  EXPECT_TRUE(saw_lora_a) << "lora_A tensors are [r, in]";
}

TEST(ModelSource, RsLoraScaleAndBadAdapters) {
  test::TempDir dir;
  test::write_file_bytes(dir.file("adapter_model.bin"), test::torch_save_bytes({{"x.lora_A.weight", DType::F32, {2}, floats({1, 2})}}));
  write_text(dir.path() / "adapter_config.json", R"({"r": 16, "lora_alpha": 8, "use_rslora": true, "use_dora": true})");
  const ModelSource s = open_model_source(dir.path().string());
  EXPECT_EQ(s.kind, SourceKind::PeftAdapter);
  EXPECT_DOUBLE_EQ(s.adapter->scale(), 8.0 / 4.0);  // alpha / sqrt(r)
  EXPECT_TRUE(s.adapter->use_dora);
  write_text(dir.path() / "adapter_config.json", R"({"r": 0, "lora_alpha": 8})");
  test::expect_error(ErrorCode::BadJson, [&] { open_model_source(dir.path().string()); });
  write_text(dir.path() / "adapter_config.json", R"({"r": 4, "lora_alpha": "high"})");
  test::expect_error(ErrorCode::BadJson, [&] { open_model_source(dir.path().string()); });
  fs::remove(dir.path() / "adapter_model.bin");
  write_text(dir.path() / "adapter_config.json", R"({"r": 4, "lora_alpha": 8})");
  test::expect_error(ErrorCode::NotFound, [&] { open_model_source(dir.path().string()); });
}

TEST(ModelSource, Llama2cCheckpoint) {
  test::TempDir dir;
  // dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 4 (shared classifier), seq_len 4.
  const int32_t header[7] = {8, 16, 1, 2, 2, 4, 4};
  const uint64_t floats_n = 4 * 8 + 8 + 64 + 64 + 64 + 64 + 8 + 128 + 128 + 128 + 8 + 4 * 4;
  std::vector<std::byte> bytes(28 + floats_n * 4);
  std::memcpy(bytes.data(), header, 28);
  test::write_file_bytes(dir.file("model.bin"), bytes);
  const ModelSource s = open_model_source(dir.file("model.bin"));
  EXPECT_EQ(s.kind, SourceKind::Llama2c);
  EXPECT_EQ(s.find("wq")->shape, (std::vector<uint64_t>{1, 8, 8}));
  EXPECT_EQ(s.find("w2")->shape, (std::vector<uint64_t>{1, 8, 16}));
  EXPECT_EQ(s.find("wcls"), nullptr) << "shared classifier";
  ASSERT_EQ(s.llama2c_header.size(), 7u);
  EXPECT_EQ(s.llama2c_header[1], (std::pair<std::string, uint64_t>{"hidden_dim", 16}));
  // One byte short: the header no longer describes the file, named with the offset.
  bytes.pop_back();
  test::write_file_bytes(dir.file("short.bin"), bytes);
  test::expect_error(ErrorCode::IncompleteBuffer, [&] { open_model_source(dir.file("short.bin")); });
}

TEST(ModelSource, EmptyDirectoryListsWhatItHolds) {
  test::TempDir dir;
  write_text(dir.path() / "notes.txt", "hi");
  const Error e = test::expect_error(ErrorCode::NotFound, [&] { open_model_source(dir.path().string()); });
  EXPECT_NE(e.detail().find("notes.txt"), std::string::npos);
}

}  // namespace
}  // namespace ckpt
