#include "formats/detect.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "formats/error.h"
#include "formats/lfs_pointer.h"

namespace ckpt {

namespace fs = std::filesystem;

std::string_view file_kind_name(FileKind kind) {
  switch (kind) {
    case FileKind::Safetensors: return "safetensors";
    case FileKind::SafetensorsIndex: return "safetensors-index";
    case FileKind::Gguf: return "gguf";
    case FileKind::HfDirectory: return "hf-directory";
    case FileKind::LfsPointer: return "lfs-pointer";
    case FileKind::Unknown: return "unknown";
  }
  return "unknown";
}

FileKind detect_file_kind(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return FileKind::HfDirectory;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block
  if (fd < 0) throw Error(ErrorCode::Io, path, Error::kNoOffset, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::Io, path, Error::kNoOffset, "file",
                S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file" : "is not a regular file");
  }
  std::byte head[1025];
  ssize_t n = 0;
  while (true) {
    n = ::read(fd, head, sizeof(head));
    if (n >= 0 || errno != EINTR) break;
  }
  ::close(fd);
  if (n < 0) throw Error(ErrorCode::Io, path, Error::kNoOffset, "", std::string("cannot read: ") + std::strerror(errno));
  const std::span<const std::byte> bytes(head, static_cast<size_t>(n));
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return FileKind::Gguf;
  if (parse_lfs_pointer(bytes)) return FileKind::LfsPointer;
  if (path.ends_with(".index.json")) return FileKind::SafetensorsIndex;
  if (bytes.size() >= 9) {
    const char c = static_cast<char>(bytes[8]);
    if (c == '{' || c == ' ' || c == '\t' || c == '\n' || c == '\r') return FileKind::Safetensors;
  }
  if (path.ends_with(".safetensors")) return FileKind::Safetensors;  // let the reader explain what is wrong
  return FileKind::Unknown;
}

std::string find_hf_weights(const std::string& dir) {
  const fs::path d(dir);
  for (const char* name : {"model.safetensors.index.json", "model.safetensors"}) {
    if (fs::exists(d / name)) return (d / name).string();
  }
  std::vector<std::string> safetensors, others;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(d, ec)) {
    const std::string name = entry.path().filename().string();
    (name.ends_with(".safetensors") ? safetensors : others).push_back(name);
  }
  if (ec) throw Error(ErrorCode::Io, dir, Error::kNoOffset, "", "cannot list directory: " + ec.message());
  std::sort(safetensors.begin(), safetensors.end());
  if (safetensors.size() == 1) return (d / safetensors[0]).string();
  std::sort(others.begin(), others.end());
  std::string listing;
  for (const auto& n : safetensors.empty() ? others : safetensors) listing += (listing.empty() ? "" : ", ") + n;
  throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, "weights",
              safetensors.empty() ? "no model.safetensors or model.safetensors.index.json (found: " + listing + ")"
                                  : "several .safetensors files but no model.safetensors.index.json (found: " + listing + ")");
}

}  // namespace ckpt
