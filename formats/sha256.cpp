#include "formats/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace ckpt {

struct Sha256::Context {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) throw std::runtime_error("OpenSSL: SHA-256 unavailable");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::update(std::span<const std::byte> bytes) {
  // EVP takes size_t lengths; feed in 1 GiB pieces anyway so progress stays responsive.
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t at = 0; at < bytes.size(); at += kPiece) {
    const size_t n = std::min(kPiece, bytes.size() - at);
    EVP_DigestUpdate(ctx_->md, bytes.data() + at, n);
  }
}

Sha256Digest Sha256::finish() {
  Sha256Digest d{};
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_->md, d.data(), &len);
  return d;
}

Sha256Digest sha256(std::span<const std::byte> bytes) {
  Sha256 h;
  h.update(bytes);
  return h.finish();
}

std::string to_hex(const Sha256Digest& d) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : d) out += kDigits[b >> 4], out += kDigits[b & 15];
  return out;
}

bool from_hex(std::string_view hex, Sha256Digest& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace ckpt
