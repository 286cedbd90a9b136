// SHA-256 through OpenSSL's EVP interface: one-shot, streaming, and hex spelling.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace ckpt {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::byte> bytes);
  Sha256Digest finish();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

Sha256Digest sha256(std::span<const std::byte> bytes);
std::string to_hex(const Sha256Digest& digest);
// Throws nothing: false when `hex` is not 64 hex digits.
bool from_hex(std::string_view hex, Sha256Digest& out);

}  // namespace ckpt
