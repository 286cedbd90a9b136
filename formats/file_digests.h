// File-level integrity for models that are not .ckpt archives, against what already exists beside
// them: a SHA256SUMS file (sha256sum's format), the Hugging Face cache's blob names (snapshots/<rev>/X is
// a link to blobs/<sha256 of X>), and Git LFS pointers (a pointer where the weights should be is
// reported as not downloaded, with the object id it names).
#pragma once

#include <string>
#include <vector>

namespace ckpt {

struct FileDigestCheck {
  std::string file;      // as found (path)
  std::string source;    // "SHA256SUMS", "HF cache blob name", "Git LFS pointer"
  std::string expected;  // hex
  std::string actual;    // hex ("" when the file is missing or is a pointer)
  bool ok = false;
  std::string problem;   // when !ok: "SHA-256 mismatch", "missing", "LFS pointer: not downloaded"
};

// Checks `path` (a model directory or one file) against every reference it has; files are hashed on
// `threads` threads. Throws Error(NotFound) when there is nothing to check against, naming what would
// do; Error(BadPath) for a SHA256SUMS entry that leaves the directory.
std::vector<FileDigestCheck> check_file_digests(const std::string& path, unsigned threads);

}  // namespace ckpt
