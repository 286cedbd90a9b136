#include "formats/file_digests.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "formats/error.h"
#include "formats/lfs_pointer.h"
#include "formats/mapped_file.h"
#include "formats/sha256.h"
#include "formats/parallel.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;

bool is_hex64(const std::string& s) {
  Sha256Digest d;
  return from_hex(s, d);
}

}  // namespace

std::vector<FileDigestCheck> check_file_digests(const std::string& path, unsigned threads) {
  std::error_code ec;
  const bool dir = fs::is_directory(path, ec);
  const fs::path base = dir ? fs::path(path) : fs::path(path).parent_path();
  std::vector<FileDigestCheck> checks;
  std::map<std::string, size_t> listed;  // file -> index in checks (SHA256SUMS wins over blob names)
  if (const fs::path sums = base / "SHA256SUMS"; fs::exists(sums)) {
    std::ifstream in(sums);
    std::string line;
    uint64_t line_no = 0, offset = 0;
    while (std::getline(in, line)) {
      ++line_no;
      const uint64_t at = offset;
      offset += line.size() + 1;
      if (line.empty() || line[0] == '#') continue;
      const size_t sp = line.find(' ');
      if (sp != 64 || line.size() < 67 || !is_hex64(line.substr(0, 64)) || (line[65] != ' ' && line[65] != '*')) {
        throw Error(ErrorCode::BadJson, sums.string(), at, fmt::format("line {}", line_no), "not \"<64 hex digits>  <file>\" (sha256sum's format)");
      }
      const std::string name = line.substr(66);
      const fs::path rel(name);
      if (rel.is_absolute() || name.find("..") != std::string::npos) throw Error(ErrorCode::BadPath, sums.string(), at, fmt::format("line {}", line_no), "'" + name + "' leaves the directory");
      if (!dir && (base / rel) != fs::path(path)) continue;
      FileDigestCheck c;
      c.file = (base / rel).string();
      c.source = "SHA256SUMS";
      c.expected = line.substr(0, 64);
      listed[c.file] = checks.size();
      checks.push_back(std::move(c));
    }
  }
  std::vector<fs::path> files;
  if (dir) {
    for (const auto& e : fs::directory_iterator(base, ec)) files.push_back(e.path());
  } else {
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    if (listed.count(f.string())) continue;
    if (fs::is_symlink(f, ec)) {  // the HF cache: snapshots/<rev>/name -> ../../blobs/<sha256>
      const std::string blob = fs::read_symlink(f, ec).filename().string();
      if (!ec && is_hex64(blob)) checks.push_back({f.string(), "HF cache blob name", blob, "", false, ""});
      continue;
    }
    if (!fs::is_regular_file(f, ec) || fs::file_size(f, ec) > 1024) continue;
    const auto m = MappedFile::open(f.string());
    if (const auto p = parse_lfs_pointer(m->bytes())) checks.push_back({f.string(), "Git LFS pointer", p->oid.substr(p->oid.find(':') + 1), "", false, "LFS pointer: not downloaded (git lfs pull)"});
  }
  if (checks.empty()) {
    throw Error(ErrorCode::NotFound, path, Error::kNoOffset, "verify",
                "nothing to check against: no SHA256SUMS, no Hugging Face cache blob links, no LFS pointers (a .ckpt archive carries its own digests: ckpt convert -o model.ckpt)");
  }
  parallel_each(checks.size(), threads, [&](size_t i) {
    FileDigestCheck& c = checks[i];
    if (!c.problem.empty()) return;
    std::error_code e;
    if (!fs::exists(c.file, e)) {
      c.problem = "missing";
      return;
    }
    // An unreadable file is a finding for its row, not an error that stops the other checks.
    std::shared_ptr<const MappedFile> m;
    try {
      m = MappedFile::open(c.file);
    } catch (const Error& err) {
      c.problem = "cannot be read: " + err.detail();
      return;
    }
    if (m->size() <= 1024 && parse_lfs_pointer(m->bytes())) {
      c.problem = "LFS pointer: not downloaded (git lfs pull)";
      return;
    }
    c.actual = to_hex(sha256(m->bytes()));
    c.ok = c.actual == c.expected;
    if (!c.ok) c.problem = "SHA-256 mismatch";
  });
  return checks;
}

}  // namespace ckpt
