#include "formats/ckpt_archive_sign.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include "formats/byte_sink.h"
#include "formats/error.h"

namespace ckpt {

uint32_t ckpt_crc32(std::span<const std::byte> bytes);  // ckpt_archive_read.cpp

namespace {

constexpr char kSigMagic[8] = {'C', 'K', 'P', 'T', 'S', 'I', 'G', '\0'};
constexpr char kContext[] = "ckpt-archive manifest v1";  // with its terminating zero

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

Pkey read_key(const std::string& pem, bool private_key) {
  FILE* f = std::fopen(pem.c_str(), "rb");
  if (!f) throw Error(ErrorCode::Io, pem, Error::kNoOffset, private_key ? "--key" : "--pubkey", "cannot be opened");
  Pkey k(private_key ? PEM_read_PrivateKey(f, nullptr, nullptr, nullptr) : PEM_read_PUBKEY(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!k) throw Error(ErrorCode::BadMagic, pem, 0, private_key ? "--key" : "--pubkey", std::string("not a PEM ") + (private_key ? "private" : "public") + " key");
  if (EVP_PKEY_id(k.get()) != EVP_PKEY_ED25519) throw Error(ErrorCode::Unsupported, pem, 0, private_key ? "--key" : "--pubkey", "not an Ed25519 key");
  return k;
}

std::array<uint8_t, 32> raw_public(EVP_PKEY* k) {
  std::array<uint8_t, 32> pub{};
  size_t n = pub.size();
  EVP_PKEY_get_raw_public_key(k, pub.data(), &n);
  return pub;
}

std::vector<uint8_t> message(const Sha256Digest& manifest) {
  std::vector<uint8_t> m(sizeof kContext + manifest.size());
  std::memcpy(m.data(), kContext, sizeof kContext);
  std::memcpy(m.data() + sizeof kContext, manifest.data(), manifest.size());
  return m;
}

}  // namespace

void sign_ckpt_archive(const std::string& path, const std::string& private_key_pem) {
  const CkptArchive a = read_ckpt_archive(path);
  const Pkey key = read_key(private_key_pem, true);
  const auto msg = message(a.manifest);
  std::array<uint8_t, 64> sig{};
  size_t sig_len = sig.size();
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &sig_len, msg.data(), msg.size()) != 1 || sig_len != 64) {
    throw Error(ErrorCode::Io, private_key_pem, Error::kNoOffset, "--key", "OpenSSL could not sign with this key");
  }
  std::array<std::byte, kCkptSignatureBytes> block{};
  std::memcpy(block.data(), kSigMagic, 8);
  const uint32_t algorithm = 1;
  std::memcpy(block.data() + 8, &algorithm, 4);
  const auto pub = raw_public(key.get());
  std::memcpy(block.data() + 16, pub.data(), 32);
  std::memcpy(block.data() + 48, sig.data(), 64);
  // Everything up to the end of the index, as it is; then the signature and a new trailer.
  const uint64_t index_end = a.index_offset + a.index_length;
  AtomicFileSink sink(path);
  sink.write_from(*a.file, a.file->bytes().first(index_end));
  const uint64_t sig_offset = sink.position(), sig_length = block.size();
  sink.write(block);
  std::array<std::byte, kCkptTrailerBytes> trailer{};
  std::memcpy(trailer.data(), a.file->bytes().data() + a.file->size() - kCkptTrailerBytes, kCkptTrailerBytes);
  std::memset(trailer.data() + 28, 0, 4);
  std::memcpy(trailer.data() + 32, &sig_offset, 8);
  std::memcpy(trailer.data() + 40, &sig_length, 8);
  const uint32_t crc = ckpt_crc32(trailer);
  std::memcpy(trailer.data() + 28, &crc, 4);
  sink.write(trailer);
  sink.commit();
}

CkptSignatureCheck check_ckpt_signature(const CkptArchive& a, const std::string& public_key_pem) {
  CkptSignatureCheck c;
  Pkey expected;
  if (!public_key_pem.empty()) expected = read_key(public_key_pem, false);
  if (!a.signature_offset) return c;
  c.signed_ = true;
  const auto block = a.file->bytes().subspan(a.signature_offset, a.signature_length);
  uint32_t algorithm = 0;
  if (block.size() == kCkptSignatureBytes) std::memcpy(&algorithm, block.data() + 8, 4);
  if (block.size() != kCkptSignatureBytes || std::memcmp(block.data(), kSigMagic, 8) != 0 || algorithm != 1) {
    throw Error(ErrorCode::Unsupported, a.file->path(), a.signature_offset, "signature", "not a CKPTSIG Ed25519 block of 112 bytes");
  }
  std::array<uint8_t, 32> pub{};
  std::memcpy(pub.data(), block.data() + 16, 32);
  c.key_sha256 = to_hex(sha256(std::as_bytes(std::span(pub))));
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pub.data(), pub.size()));
  const auto msg = message(a.manifest);
  MdCtx ctx(EVP_MD_CTX_new());
  c.valid = key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(block.data() + 48), 64, msg.data(), msg.size()) == 1;
  c.key_matches = expected && raw_public(expected.get()) == pub;
  return c;
}

}  // namespace ckpt
