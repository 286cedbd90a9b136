// Helpers shared by the test binaries: shared-data lookup with an explicit skip, temp dirs, byte builders.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "formats/error.h"
#include "formats/mapped_file.h"

namespace ckpt::test {

// ../shared beside the checkout (compile definition), or $CKPT_SHARED_DIR.
std::filesystem::path shared_dir();

// Path of a file under ../shared/data, or "" when ../shared is absent (callers GTEST_SKIP with the reason).
std::string shared_data(const std::string& relative);

#define CKPT_SHARED_OR_SKIP(var, relative)                                                         \
  const std::string var = ::ckpt::test::shared_data(relative);                                     \
  if (var.empty()) GTEST_SKIP() << "../shared/data/" << relative                                   \
                                << " is absent (a fresh clone without ../shared); real-file test skipped"

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

std::vector<std::byte> read_file_bytes(const std::string& path);
void write_file_bytes(const std::string& path, std::span<const std::byte> bytes);

inline std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline std::shared_ptr<const MappedFile> memory_file(std::span<const std::byte> bytes, std::string name = "test.bin") {
  return MappedFile::from_bytes(std::move(name), bytes);
}

// Appends little-endian values and GGUF strings; for hand-built (often hostile) files.
class Bytes {
 public:
  template <typename T>
  Bytes& le(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    data_.insert(data_.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& raw(std::string_view s) {
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    data_.insert(data_.end(), p, p + s.size());
    return *this;
  }
  Bytes& raw(std::span<const std::byte> b) {
    data_.insert(data_.end(), b.begin(), b.end());
    return *this;
  }
  Bytes& gguf_str(std::string_view s) { return le<uint64_t>(s.size()).raw(s); }
  Bytes& zeros(size_t n) {
    data_.insert(data_.end(), n, std::byte{0});
    return *this;
  }
  Bytes& pad_to(size_t alignment) { return zeros((alignment - data_.size() % alignment) % alignment); }
  size_t size() const { return data_.size(); }
  const std::vector<std::byte>& bytes() const { return data_; }
  std::vector<std::byte>& bytes() { return data_; }

 private:
  std::vector<std::byte> data_;
};

// A safetensors file from a header text and a data buffer (N = header size unless overridden).
std::vector<std::byte> safetensors_bytes(const std::string& header, std::span<const std::byte> data = {},
                                         std::optional<uint64_t> header_size_override = std::nullopt);

// Runs `fn`, expecting ckpt::Error with `code`; returns the error for further checks.
template <typename Fn>
Error expect_error(ErrorCode code, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(error_code_name(e.code()), error_code_name(code)) << e.what();
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected ckpt::Error(" << error_code_name(code) << "), got std::exception: " << e.what();
    return Error(ErrorCode::Io, "", 0, "", "");
  }
  ADD_FAILURE() << "expected ckpt::Error(" << error_code_name(code) << "), nothing was thrown";
  return Error(ErrorCode::Io, "", 0, "", "");
}

// Seed for property tests: fresh each run unless CKPT_TEST_SEED pins it; printed so failures reproduce.
uint64_t test_seed();

}  // namespace ckpt::test
