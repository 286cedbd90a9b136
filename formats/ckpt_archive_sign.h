// Ed25519 signatures over a .ckpt archive's manifest (the SHA-256 of its index, which lists every
// tensor's and section's SHA-256): signing authenticates metadata as well as weights.
//
// Signature block (112 bytes, between the index and the trailer; the trailer points at it):
//   0 8 "CKPTSIG\0"   8 4 algorithm (1 = Ed25519)   12 4 zero   16 32 public key   48 64 signature
// The signed message is "ckpt-archive manifest v1\0" followed by the 32-byte manifest digest.
#pragma once

#include <string>

#include "formats/ckpt_archive.h"

namespace ckpt {

inline constexpr uint64_t kCkptSignatureBytes = 112;

// Signs `path` with the Ed25519 private key in `private_key_pem` (as `openssl genpkey -algorithm
// ed25519` writes it), replacing an earlier signature. The tensor data, sections and index are copied
// unchanged into a temporary file (in the kernel) that then replaces `path`.
void sign_ckpt_archive(const std::string& path, const std::string& private_key_pem);

struct CkptSignatureCheck {
  bool signed_ = false;
  bool valid = false;             // the signature verifies with the public key stored beside it
  std::string key_sha256;         // SHA-256 of the raw 32-byte public key (a fingerprint to show)
  bool key_matches = false;       // with an expected public key: it is that key
};

// Checks the archive's signature; with `public_key_pem` (empty: none), also that the signer is that
// key. Throws Error naming the key file when it cannot be read or is not Ed25519.
CkptSignatureCheck check_ckpt_signature(const CkptArchive& archive, const std::string& public_key_pem);

}  // namespace ckpt
