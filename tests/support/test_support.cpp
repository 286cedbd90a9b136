#include "tests/support/test_support.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

namespace ckpt::test {

namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("CKPT_SHARED_DIR")) return env;
  return CKPT_SHARED_DIR;
}

std::string shared_data(const std::string& relative) {
  const fs::path p = shared_dir() / "data" / relative;
  std::error_code ec;
  return fs::exists(p, ec) ? p.string() : std::string();
}

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "ckpt-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::byte> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  if (!chars.empty()) std::memcpy(out.data(), chars.data(), chars.size());
  return out;
}

void write_file_bytes(const std::string& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::byte> safetensors_bytes(const std::string& header, std::span<const std::byte> data,
                                         std::optional<uint64_t> header_size_override) {
  Bytes b;
  b.le<uint64_t>(header_size_override.value_or(header.size())).raw(header).raw(data);
  return b.bytes();
}

uint64_t test_seed() {
  static const uint64_t seed = [] {
    uint64_t s;
    if (const char* env = std::getenv("CKPT_TEST_SEED")) {
      s = std::strtoull(env, nullptr, 10);
    } else {
      s = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    }
    std::cerr << "[ckpt] property-test seed " << s << " (set CKPT_TEST_SEED to repeat)\n";
    return s;
  }();
  return seed;
}

}  // namespace ckpt::test
