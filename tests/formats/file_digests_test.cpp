// verify for non-archive models: SHA256SUMS, Hugging Face cache blob names, LFS pointers. The expected
// digest is FIPS 180-2's SHA-256("abc"), not one computed by the code under test.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/file_digests.h"
#include "formats/safetensors.h"
#include "formats/tensor_manifest.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;
const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

TEST(FileDigests, Sha256SumsFindsTheChangedAndTheMissingFile) {
  test::TempDir dir;
  write(dir.path() / "model.safetensors", "abc");
  write(dir.path() / "SHA256SUMS", kAbc + "  model.safetensors\n" + kAbc + " *gone.bin\n");
  auto checks = check_file_digests(dir.path().string(), 2);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_TRUE(checks[0].ok);
  EXPECT_EQ(checks[0].source, "SHA256SUMS");
  EXPECT_EQ(checks[1].problem, "missing");
  write(dir.path() / "model.safetensors", "abd");  // one byte changed
  checks = check_file_digests(dir.path().string(), 1);
  EXPECT_FALSE(checks[0].ok);
  EXPECT_EQ(checks[0].problem, "SHA-256 mismatch");
  // An entry that cannot be read (here a directory) is reported, not a crash of the hashing thread.
  fs::create_directories(dir.path() / "shard.bin");
  write(dir.path() / "SHA256SUMS", kAbc + "  shard.bin\n");
  checks = check_file_digests(dir.path().string(), 2);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].problem.rfind("cannot be read", 0), 0u) << checks[0].problem;
  write(dir.path() / "SHA256SUMS", kAbc + "  ../outside\n");
  test::expect_error(ErrorCode::BadPath, [&] { check_file_digests(dir.path().string(), 1); });
  write(dir.path() / "SHA256SUMS", "not a sum line\n");
  test::expect_error(ErrorCode::BadJson, [&] { check_file_digests(dir.path().string(), 1); });
}

TEST(FileDigests, HuggingFaceCacheBlobNamesAreTheDigests) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "blobs");
  fs::create_directories(dir.path() / "snapshots" / "rev");
  write(dir.path() / "blobs" / kAbc, "abc");
  fs::create_symlink(fs::path("../../blobs") / kAbc, dir.path() / "snapshots" / "rev" / "model.safetensors");
  const std::string snapshot = (dir.path() / "snapshots" / "rev").string();
  auto checks = check_file_digests(snapshot, 1);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_TRUE(checks[0].ok) << checks[0].problem;
  EXPECT_EQ(checks[0].source, "HF cache blob name");
  write(dir.path() / "blobs" / kAbc, "abC");
  checks = check_file_digests(snapshot, 1);
  EXPECT_EQ(checks[0].problem, "SHA-256 mismatch");
}

TEST(FileDigests, LfsPointersAreReportedAsNotDownloaded) {
  test::TempDir dir;
  write(dir.path() / "model.safetensors", "version https://git-lfs.github.com/spec/v1\noid sha256:" + kAbc + "\nsize 3\n");
  const auto checks = check_file_digests(dir.path().string(), 1);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_FALSE(checks[0].ok);
  EXPECT_EQ(checks[0].expected, kAbc);
  EXPECT_NE(checks[0].problem.find("not downloaded"), std::string::npos);
  test::TempDir empty;
  write(empty.path() / "config.json", "{}");
  test::expect_error(ErrorCode::NotFound, [&] { check_file_digests(empty.path().string(), 1); });
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// Per-tensor manifests: a changed byte is pinned to its tensor; renamed tensors show as missing/extra.
TEST(TensorManifest, NamesTheTensorWhoseBytesChanged) {
  test::TempDir dir;
  const auto bytes = std::vector<float>{1, 2, 3, 4};
  const std::string st = dir.file("m.safetensors");
  write_safetensors(st, {{"a", DType::F32, {2, 2}, write_bytes_from(std::as_bytes(std::span(bytes)))},
                         {"b", DType::F32, {4}, write_bytes_from(std::as_bytes(std::span(bytes)))}}, {});
  const std::string manifest = default_tensor_manifest_path(st);
  EXPECT_EQ(manifest, st + ".sha256.json");
  EXPECT_EQ(write_tensor_manifest(st, manifest, 2), 2u);
  EXPECT_TRUE(check_tensor_manifest(st, manifest, 1).ok());
  // Flip one byte of b's data (the last 16 bytes of the file).
  auto raw = test::read_file_bytes(st);
  raw[raw.size() - 3] ^= std::byte{0x40};
  test::write_file_bytes(st, raw);
  const auto c = check_tensor_manifest(st, manifest, 1);
  const std::string changed = c.changed.size() == 1 ? c.changed[0] : "";
  const auto info = read_safetensors(st);
  EXPECT_EQ(changed, info.tensors.back().offset_in_file > info.tensors.front().offset_in_file ? info.tensors.back().name : info.tensors.front().name);
  write_safetensors(st, {{"c", DType::F32, {4}, write_bytes_from(std::as_bytes(std::span(bytes)))}}, {});
  const auto r = check_tensor_manifest(st, manifest, 1);
  EXPECT_EQ(r.extra, std::vector<std::string>{"c"});
  EXPECT_EQ(r.missing.size(), 2u);
  test::write_file_bytes(manifest, test::as_bytes(std::string("{\"format\": \"other\"}")));
  test::expect_error(ErrorCode::BadJson, [&] { check_tensor_manifest(st, manifest, 1); });
}

}  // namespace
}  // namespace ckpt
