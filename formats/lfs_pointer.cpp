#include "formats/lfs_pointer.h"

#include <charconv>
#include <string_view>

#include "formats/error.h"

namespace ckpt {

std::optional<LfsPointer> parse_lfs_pointer(std::span<const std::byte> bytes) {
  static constexpr std::string_view kFirstLine = "version https://git-lfs.github.com/spec/v1\n";
  // The spec caps pointer files at 1024 bytes.
  if (bytes.size() > 1024 || bytes.size() < kFirstLine.size()) return std::nullopt;
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!text.starts_with(kFirstLine)) return std::nullopt;
  LfsPointer pointer;
  size_t pos = kFirstLine.size();
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    if (line.starts_with("oid ")) pointer.oid = std::string(line.substr(4));
    if (line.starts_with("size ")) {
      const auto digits = line.substr(5);
      std::from_chars(digits.data(), digits.data() + digits.size(), pointer.size);
    }
    pos = eol + 1;
  }
  return pointer;
}

void throw_if_lfs_pointer(std::span<const std::byte> bytes, const std::string& path) {
  if (const auto pointer = parse_lfs_pointer(bytes)) {
    throw Error(ErrorCode::LfsPointer, path, 0, "file",
                "this is a Git LFS pointer (" + pointer->oid + ", " + std::to_string(pointer->size) +
                    " bytes), not the file itself; run `git lfs pull` to fetch it");
  }
}

}  // namespace ckpt
