// Read-only ZIP archives as PyTorch writes them (torch.save: stored entries, zip64 for large files).
//
// Layout: local headers + data ... central directory ... [zip64 EOCD record + locator] EOCD.
// Only the central directory is trusted for names and sizes; each entry's local header is checked to
// lie inside the file. Stored entries are zero-copy views; deflated ones are inflated with zlib.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "formats/mapped_file.h"

namespace ckpt {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t data_offset = 0;  // absolute offset of the (compressed) data
};

class ZipReader {
 public:
  explicit ZipReader(std::shared_ptr<const MappedFile> file);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  const ZipEntry* find(std::string_view name) const;
  // Stored: a view into the map. Deflated: inflated into `scratch` (capped at `max_inflated` bytes).
  std::span<const std::byte> read(const ZipEntry& entry, std::vector<std::byte>& scratch,
                                  uint64_t max_inflated = uint64_t{1} << 32) const;
  const MappedFile& file() const { return *file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  std::vector<ZipEntry> entries_;
};

// True if the bytes start like a ZIP local file header.
bool looks_like_zip(std::span<const std::byte> bytes);

}  // namespace ckpt
