// Sharded safetensors: transformers' file names, index text and split rule; reading a set back.
#include <gtest/gtest.h>

#include <fstream>

#include "formats/safetensors_index.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

TEST(SafetensorsIndex, ShardsLikeTransformersAndReadsBack) {
  test::TempDir dir;
  std::vector<std::vector<std::byte>> data;
  std::vector<TensorToWrite> tensors;
  // 40, 40, 100, 8, 8 bytes with a 64-byte limit: [a], [b], [big] (alone, over the limit), [c, d].
  for (auto [name, n] : std::vector<std::pair<std::string, uint64_t>>{{"a", 10}, {"b", 10}, {"big", 25}, {"c", 2}, {"d", 2}}) {
    auto& d = data.emplace_back(n * 4);
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<std::byte>(i + n);
    tensors.push_back({name, DType::F32, {n}, write_bytes_from(d)});
  }
  const auto result = write_safetensors_sharded(dir.path().string(), tensors, 64, {{"format", "pt"}});
  ASSERT_TRUE(result.wrote_index);
  ASSERT_EQ(result.files.size(), 4u);
  EXPECT_EQ(std::filesystem::path(result.files[0]).filename(), "model-00001-of-00004.safetensors");
  EXPECT_EQ(std::filesystem::path(result.files[3]).filename(), "model-00004-of-00004.safetensors");

  // What Python's json.dumps(index, indent=2, sort_keys=True) + "\n" prints for this split.
  const std::string expected_index =
      "{\n"
      "  \"metadata\": {\n"
      "    \"total_size\": 196\n"
      "  },\n"
      "  \"weight_map\": {\n"
      "    \"a\": \"model-00001-of-00004.safetensors\",\n"
      "    \"b\": \"model-00002-of-00004.safetensors\",\n"
      "    \"big\": \"model-00003-of-00004.safetensors\",\n"
      "    \"c\": \"model-00004-of-00004.safetensors\",\n"
      "    \"d\": \"model-00004-of-00004.safetensors\"\n"
      "  }\n"
      "}\n";
  const auto index_bytes = test::read_file_bytes(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(index_bytes.data()), index_bytes.size()), expected_index);

  const auto set = read_safetensors_index(dir.file("model.safetensors.index.json"));
  EXPECT_EQ(set.shards.size(), 4u);
  EXPECT_EQ(set.declared_total_size, 196u);
  ASSERT_EQ(set.tensors.size(), 5u);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto* e = set.find(tensors[i].name);
    ASSERT_TRUE(e);
    const auto bytes = e->shard->data(*e->info);
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), data[i].begin(), data[i].end())) << tensors[i].name;
    ASSERT_EQ(e->shard->metadata.size(), 1u);
  }
}

TEST(SafetensorsIndex, OneShardIsModelSafetensorsWithoutIndex) {
  test::TempDir dir;
  const std::vector<std::byte> four(4);
  const auto result = write_safetensors_sharded(dir.path().string(), {{"w", DType::F32, {1}, write_bytes_from(four)}},
                                                uint64_t{5} * 1000 * 1000 * 1000, {});
  EXPECT_FALSE(result.wrote_index);
  EXPECT_TRUE(std::filesystem::exists(dir.file("model.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors.index.json")));
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(SafetensorsIndex, RefusesHostileOrInconsistentIndexes) {
  test::TempDir dir;
  const std::vector<std::byte> four(4);
  write_safetensors(dir.file("s1.safetensors"), {{"a", DType::F32, {1}, write_bytes_from(four)},
                                                 {"b", DType::F32, {1}, write_bytes_from(four)}}, {});
  const std::string index = dir.file("model.safetensors.index.json");
  write_text(index, R"({"weight_map": {"a": "../../etc/passwd"}})");
  test::expect_error(ErrorCode::BadPath, [&] { read_safetensors_index(index); });
  write_text(index, R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "zz": "s1.safetensors"}})");
  test::expect_error(ErrorCode::NotFound, [&] { read_safetensors_index(index); });
  write_text(index, R"({"weight_map": {"a": "s1.safetensors"}})");  // b is in the shard but unlisted
  test::expect_error(ErrorCode::NotFound, [&] { read_safetensors_index(index); });
  write_text(index, R"({"weight_map": {"a": "missing.safetensors"}})");
  test::expect_error(ErrorCode::Io, [&] { read_safetensors_index(index); });
  write_text(index, R"({"weight_map": {"a": "s1.safetensors", "a": "s1.safetensors"}})");
  test::expect_error(ErrorCode::DuplicateName, [&] { read_safetensors_index(index); });
  write_text(index, R"({"weight_map": ["a"]})");
  test::expect_error(ErrorCode::BadJson, [&] { read_safetensors_index(index); });
  write_text(index, R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors"}})");
  EXPECT_EQ(read_safetensors_index(index).tensors.size(), 2u);
}

TEST(SafetensorsIndex, ParsesShardSizesLikeHuggingfaceHub) {
  EXPECT_EQ(parse_shard_size("5GB"), 5'000'000'000u);
  EXPECT_EQ(parse_shard_size("500MB"), 500'000'000u);
  EXPECT_EQ(parse_shard_size("1.5GB"), 1'500'000'000u);
  EXPECT_EQ(parse_shard_size("2GiB"), 2147483648u);
  EXPECT_EQ(parse_shard_size("10kb"), 10'000u);
  EXPECT_EQ(parse_shard_size("4096"), 4096u);
  for (const char* bad : {"", "GB", "5XB", "-1GB", "0", "1e30GB"}) {
    test::expect_error(ErrorCode::InvalidArgument, [&] { parse_shard_size(bad); });
  }
}

}  // namespace
}  // namespace ckpt
