// inspect over hand-built files (known contents) and the real files in ../shared/data.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "inspect/inspect.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

std::string write_small_gguf(const test::TempDir& dir) {
  std::vector<std::string> vocab;
  for (int i = 0; i < 100; ++i) vocab.push_back("tok" + std::to_string(i));
  static const std::vector<std::byte> data(4 * 6 + 34 * 2);
  const std::string path = dir.file("small.gguf");
  write_gguf(path,
             {{"general.architecture", {std::string("llama")}, 0},
              {"llama.block_count", {uint32_t{2}}, 0},
              {"general.file_type", {uint32_t{7}}, 0},
              {"tokenizer.ggml.tokens", GgufValue::string_array(vocab), 0}},
             {{"w\x1b[31m", {2, 3}, DType::F32, write_bytes_from(std::span(data).first(24))},
              {"q", {32, 2}, DType::Q8_0, write_bytes_from(std::span(data).first(68))}});
  return path;
}

TEST(Inspect, GgufReportHasKvsTensorsTotalsAndArchitecture) {
  test::TempDir dir;
  const auto path = write_small_gguf(dir);
  const auto report = inspect_path(path, {});
  EXPECT_EQ(report.kind, FileKind::Gguf);
  EXPECT_EQ(report.format, "GGUF v3");
  ASSERT_EQ(report.tensors.size(), 2u);
  EXPECT_EQ(report.tensors[0].info.shape, (std::vector<uint64_t>{3, 2}));  // PyTorch order
  EXPECT_EQ(report.tensors[1].info.shape, (std::vector<uint64_t>{2, 32}));
  EXPECT_EQ(report.total_parameters(), 6u + 64u);
  EXPECT_EQ(report.total_bytes(), 24u + 68u);
  EXPECT_EQ(report.totals_by_dtype().at("Q8_0").bytes, 68u);
  EXPECT_EQ(report.architecture, "llama");
  bool saw_file_type = false;
  for (const auto& [k, v] : report.architecture_fields) saw_file_type |= (k == "file type" && v == "MOSTLY_Q8_0 (7)");
  EXPECT_TRUE(saw_file_type);

  const std::string text = render_inspect_text(report);
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "control characters must be escaped";
  EXPECT_NE(text.find("w\\x1b[31m"), std::string::npos);
  EXPECT_NE(text.find("... (100 str in all)"), std::string::npos) << "long arrays are summarized";
  EXPECT_EQ(text.find("tok99"), std::string::npos);

  const auto json = render_inspect_json(report);
  EXPECT_EQ(json["tensors"][1]["dtype"], "Q8_0");
  EXPECT_EQ(json["totals"]["parameters"], 70u);
  const auto& tokens = json["metadata"][3];
  EXPECT_EQ(tokens["key"], "tokenizer.ggml.tokens");
  EXPECT_EQ(tokens["value"]["count"], 100u);
  EXPECT_EQ(tokens["offset"].get<uint64_t>(), read_gguf(path).kvs[3].offset_in_file);

  const auto full = inspect_path(path, {.full = true});
  EXPECT_NE(render_inspect_text(full).find("tok99"), std::string::npos);
  EXPECT_EQ(render_inspect_json(full)["metadata"][3]["value"].size(), 100u);
}

TEST(Inspect, HfDirectoryReadsConfigAndShards) {
  test::TempDir dir;
  std::ofstream(dir.file("config.json")) << R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1})";
  const std::vector<std::byte> bytes(64);
  std::vector<TensorToWrite> tensors;
  for (const char* n : {"a", "b", "c"}) tensors.push_back({n, DType::BF16, {4, 4}, write_bytes_from(std::span(bytes).first(32))});
  write_safetensors_sharded(dir.path().string(), tensors, 40, {{"format", "pt"}});
  const auto report = inspect_path(dir.path().string(), {});
  EXPECT_EQ(report.kind, FileKind::HfDirectory);
  EXPECT_EQ(report.format, "HF checkpoint, safetensors (3 shards)");
  EXPECT_EQ(report.architecture, "LlamaForCausalLM");
  EXPECT_EQ(report.tensors.size(), 3u);
  EXPECT_EQ(report.total_parameters(), 48u);
  EXPECT_NE(report.tensors[0].file, report.tensors[2].file);
}

TEST(Inspect, ExplainsWhatItCannotRead) {
  test::TempDir dir;
  std::ofstream(dir.file("model.safetensors"))
      << "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 99\n";
  test::expect_error(ErrorCode::LfsPointer, [&] { inspect_path(dir.file("model.safetensors"), {}); });
  test::expect_error(ErrorCode::LfsPointer, [&] { inspect_path(dir.path().string(), {}); });
  std::ofstream(dir.file("notes.txt")) << "hello";
  test::expect_error(ErrorCode::BadMagic, [&] { inspect_path(dir.file("notes.txt"), {}); });
  test::TempDir empty;
  test::expect_error(ErrorCode::NotFound, [&] { inspect_path(empty.path().string(), {}); });
}

TEST(Inspect, RealFiles) {
  CKPT_SHARED_OR_SKIP(gpt2, "lm-buddy-fake_gpt2");
  const auto report = inspect_path(gpt2, {});
  EXPECT_EQ(report.architecture, "GPT2LMHeadModel");
  // transformers 4.36 saved the tied lm_head once: 16 tensors, all F32 (config: n_embd 2, 1 layer, vocab 50257).
  EXPECT_EQ(report.tensors.size(), 16u);
  EXPECT_EQ(report.totals_by_dtype().size(), 1u);
  EXPECT_EQ(report.totals_by_dtype().count("F32"), 1u);
  const auto* wte = &report.tensors[0];
  for (const auto& t : report.tensors) if (t.info.name == "transformer.wte.weight") wte = &t;
  EXPECT_EQ(wte->info.shape, (std::vector<uint64_t>{50257, 2}));

  CKPT_SHARED_OR_SKIP(stories, "karpathy-stories260K/stories260K-converted-by-llama.cpp-c392e50.gguf");
  const auto s = inspect_path(stories, {});
  EXPECT_EQ(s.tensors.size(), 48u);
  EXPECT_EQ(s.totals_by_dtype().at("F32").tensors, 48u);
}

TEST(Inspect, ShippedSampleModel) {
  const std::string sample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";
  const auto report = inspect_path(sample, {});
  EXPECT_EQ(report.architecture, "LlamaForCausalLM");
  EXPECT_GT(report.tensors.size(), 10u);
}

}  // namespace
}  // namespace ckpt
