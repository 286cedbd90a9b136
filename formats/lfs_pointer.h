// Git LFS pointer files: the ~130-byte text stubs a clone leaves when `git lfs pull` never ran.
// Users meet them as "invalid header" errors; ckpt names them instead.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ckpt {

struct LfsPointer {
  std::string oid;    // "sha256:..."
  uint64_t size = 0;  // size of the real file
};

// Parses `bytes` as an LFS pointer (spec v1); nullopt if it is not one.
std::optional<LfsPointer> parse_lfs_pointer(std::span<const std::byte> bytes);

// Throws Error(LfsPointer) naming `path` if `bytes` is an LFS pointer.
void throw_if_lfs_pointer(std::span<const std::byte> bytes, const std::string& path);

}  // namespace ckpt
