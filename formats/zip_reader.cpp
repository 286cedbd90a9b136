#include "formats/zip_reader.h"

#include <zlib.h>

#include <cstring>
#include <unordered_set>

#include "formats/byte_reader.h"
#include "formats/checked_math.h"

namespace ckpt {

namespace {
constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDir = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64EndOfCentralDir = 0x06064b50;
}  // namespace

bool looks_like_zip(std::span<const std::byte> bytes) {
  uint32_t sig = 0;
  if (bytes.size() >= 4) std::memcpy(&sig, bytes.data(), 4);
  return sig == kLocalHeader;
}

ZipReader::ZipReader(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
  ByteReader r(file_->bytes(), file_->path());
  // The EOCD record is 22 bytes plus a comment of up to 65535: search backwards for its signature.
  if (r.size() < 22) r.fail(ErrorCode::Truncated, "zip end of central directory", "file too short for a ZIP archive");
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = r.size() > 22 + 65535 ? r.size() - 22 - 65535 : 0;
  for (uint64_t pos = r.size() - 22 + 1; pos-- > lowest;) {
    uint32_t sig;
    std::memcpy(&sig, file_->bytes().data() + pos, 4);
    if (sig == kEndOfCentralDir) {
      eocd = pos;
      break;
    }
  }
  if (eocd == UINT64_MAX) r.fail_at(r.size(), ErrorCode::Truncated, "zip end of central directory", "not found: truncated or not a ZIP");
  r.seek(eocd + 10, "zip end of central directory");
  uint64_t n_entries = r.read<uint16_t>("zip entry count");  // total entries (offset 10)
  uint64_t cd_size = r.read<uint32_t>("zip central directory size");
  uint64_t cd_offset = r.read<uint32_t>("zip central directory offset");
  if (eocd >= 20 && (n_entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF)) {
    r.seek(eocd - 20, "zip64 locator");
    if (r.read<uint32_t>("zip64 locator") != kZip64Locator) r.fail(ErrorCode::BadMagic, "zip64 locator", "missing");
    r.skip(4, "zip64 locator");
    const uint64_t record = r.read<uint64_t>("zip64 record offset");
    r.seek(record, "zip64 record offset");
    if (r.read<uint32_t>("zip64 end of central directory") != kZip64EndOfCentralDir) {
      r.fail_at(record, ErrorCode::BadMagic, "zip64 end of central directory", "bad signature");
    }
    r.skip(8 + 2 + 2 + 4 + 4 + 8, "zip64 end of central directory");
    n_entries = r.read<uint64_t>("zip64 entry count");
    cd_size = r.read<uint64_t>("zip64 central directory size");
    cd_offset = r.read<uint64_t>("zip64 central directory offset");
  }
  const auto cd_end = checked_add(cd_offset, cd_size);
  if (!cd_end || *cd_end > r.size()) r.fail_at(eocd, ErrorCode::Truncated, "zip central directory", "lies outside the file");
  if (n_entries > cd_size / 46) r.fail_at(eocd, ErrorCode::TooLarge, "zip entry count", "more entries than the directory can hold");
  r.seek(cd_offset, "zip central directory");
  entries_.reserve(n_entries);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_entries; ++i) {
    const uint64_t at = r.offset();
    if (r.read<uint32_t>("zip central header") != kCentralHeader) r.fail_at(at, ErrorCode::BadMagic, "zip central header", "bad signature");
    r.skip(6, "zip central header");
    ZipEntry e;
    e.method = r.read<uint16_t>("zip method");
    r.skip(8, "zip central header");
    e.compressed_size = r.read<uint32_t>("zip compressed size");
    e.size = r.read<uint32_t>("zip size");
    const uint16_t name_len = r.read<uint16_t>("zip name length");
    const uint16_t extra_len = r.read<uint16_t>("zip extra length");
    const uint16_t comment_len = r.read<uint16_t>("zip comment length");
    r.skip(8, "zip central header");
    uint64_t local = r.read<uint32_t>("zip local header offset");
    e.name = std::string(r.read_chars(name_len, "zip entry name"));
    // zip64 extra field (id 1) holds whichever of size, compressed size, offset were 0xFFFFFFFF.
    ByteReader extra(r.read_bytes(extra_len, "zip extra field"), file_->path());
    while (extra.remaining() >= 4) {
      const uint16_t id = extra.read<uint16_t>("zip extra id");
      const uint16_t len = extra.read<uint16_t>("zip extra length");
      ByteReader field(extra.read_bytes(len, "zip extra data"), file_->path());
      if (id != 1) continue;
      if (e.size == 0xFFFFFFFF) e.size = field.read<uint64_t>("zip64 size");
      if (e.compressed_size == 0xFFFFFFFF) e.compressed_size = field.read<uint64_t>("zip64 compressed size");
      if (local == 0xFFFFFFFF) local = field.read<uint64_t>("zip64 local header offset");
    }
    r.skip(comment_len, "zip comment");
    if (e.method != 0 && e.method != 8) {
      r.fail_at(at, ErrorCode::Unsupported, "zip entry '" + e.name + "'", "compression method " + std::to_string(e.method));
    }
    ByteReader lr(file_->bytes(), file_->path());
    lr.seek(local, "zip local header offset");
    if (lr.read<uint32_t>("zip local header") != kLocalHeader) lr.fail_at(local, ErrorCode::BadMagic, "zip local header", "bad signature");
    lr.skip(22, "zip local header");
    const uint16_t lname = lr.read<uint16_t>("zip local name length");
    const uint16_t lextra = lr.read<uint16_t>("zip local extra length");
    lr.skip(uint64_t{lname} + lextra, "zip local header");
    e.data_offset = lr.offset();
    const auto end = checked_add(e.data_offset, e.compressed_size);
    if (!end || *end > r.size()) {
      lr.fail_at(e.data_offset, ErrorCode::Truncated, "zip entry '" + e.name + "'",
                 "data of " + std::to_string(e.compressed_size) + " bytes runs past the end of the file");
    }
    if (e.method == 0 && e.size != e.compressed_size) lr.fail_at(at, ErrorCode::SizeMismatch, "zip entry '" + e.name + "'", "stored sizes differ");
    // Two entries with one name let two readers see different files (Python's zipfile takes the last).
    if (!names.insert(e.name).second) r.fail_at(at, ErrorCode::DuplicateName, "zip entry '" + e.name + "'", "appears twice in the central directory");
    entries_.push_back(std::move(e));
  }
}

const ZipEntry* ZipReader::find(std::string_view name) const {
  for (const auto& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

std::span<const std::byte> ZipReader::read(const ZipEntry& e, std::vector<std::byte>& scratch, uint64_t max_inflated) const {
  const auto raw = file_->bytes().subspan(e.data_offset, e.compressed_size);
  if (e.method == 0) return raw;
  if (e.size > max_inflated) {
    throw Error(ErrorCode::TooLarge, file_->path(), e.data_offset, "zip entry '" + e.name + "'",
                "inflated size " + std::to_string(e.size) + " exceeds the cap of " + std::to_string(max_inflated) + " bytes");
  }
  // Deflate expands at most ~1032x; a larger claimed ratio is a bomb or a lie, refused before
  // anything is allocated (136 bytes claiming 1 GiB).
  if (e.size / 1032 > e.compressed_size + 64) {
    throw Error(ErrorCode::TooLarge, file_->path(), e.data_offset, "zip entry '" + e.name + "'",
                "claims " + std::to_string(e.size) + " bytes from " + std::to_string(e.compressed_size) +
                    " compressed (more than deflate's 1032:1 maximum)");
  }
  scratch.resize(e.size);
  z_stream zs{};
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw Error(ErrorCode::Io, file_->path(), e.data_offset, "zip", "zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(raw.data()));
  zs.avail_in = static_cast<uInt>(std::min<uint64_t>(raw.size(), UINT32_MAX));
  zs.next_out = reinterpret_cast<Bytef*>(scratch.data());
  zs.avail_out = static_cast<uInt>(std::min<uint64_t>(scratch.size(), UINT32_MAX));
  const int rc = inflate(&zs, Z_FINISH);
  const uint64_t produced = zs.total_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != e.size) {
    throw Error(ErrorCode::BadValueType, file_->path(), e.data_offset, "zip entry '" + e.name + "'", "corrupt deflate data");
  }
  return scratch;
}

}  // namespace ckpt
