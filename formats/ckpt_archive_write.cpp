#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/checked_math.h"
#include "formats/ckpt_archive.h"
#include "formats/error.h"
#include "formats/parallel.h"

namespace ckpt {

uint32_t ckpt_crc32(std::span<const std::byte> bytes);  // ckpt_archive_read.cpp

CkptInputSection CkptInputSection::text(std::string name, std::string kind, std::string_view text) {
  const auto b = std::as_bytes(std::span(text.data(), text.size()));
  return {std::move(name), std::move(kind), {b.begin(), b.end()}, true};
}

CkptInputSection CkptInputSection::file(std::string name, std::string kind, const std::string& path, bool compress) {
  const auto m = MappedFile::open(path);
  return {std::move(name), std::move(kind), {m->bytes().begin(), m->bytes().end()}, compress};
}

bool ckpt_name_less(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      size_t ei = i, ej = j;
      while (ei < a.size() && digit(a[ei])) ++ei;
      while (ej < b.size() && digit(b[ej])) ++ej;
      // Compare the runs as numbers: strip leading zeros, then length, then digits.
      size_t si = i, sj = j;
      while (si + 1 < ei && a[si] == '0') ++si;
      while (sj + 1 < ej && b[sj] == '0') ++sj;
      if (ei - si != ej - sj) return ei - si < ej - sj;
      if (const int c = a.substr(si, ei - si).compare(b.substr(sj, ej - sj)); c != 0) return c < 0;
      if (ei - i != ej - j) return ei - i < ej - j;  // "01" after "1"
      i = ei, j = ej;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]);
    ++i, ++j;
  }
  return a.size() - i < b.size() - j;
}

namespace {

// A section as it goes into the file: compressed when that makes it smaller.
struct StoredSection {
  std::string name, kind;
  std::vector<std::byte> stored;
  uint64_t size = 0;
  bool zlib = false;
  Sha256Digest sha256{};
};

StoredSection encode_section(const CkptInputSection& s, const std::string& path) {
  StoredSection x{s.name, s.kind, {}, s.bytes.size(), false, sha256(s.bytes)};
  if (s.compress && !s.bytes.empty()) {
    uLongf n = compressBound(static_cast<uLong>(s.bytes.size()));
    x.stored.resize(n);
    if (compress2(reinterpret_cast<Bytef*>(x.stored.data()), &n, reinterpret_cast<const Bytef*>(s.bytes.data()), static_cast<uLong>(s.bytes.size()), 9) != Z_OK) {
      throw Error(ErrorCode::Io, path, Error::kNoOffset, "section '" + s.name + "'", "zlib compression failed");
    }
    x.stored.resize(n);
    x.zlib = n < s.bytes.size();
  }
  if (!x.zlib) x.stored = s.bytes;
  return x;
}

nlohmann::ordered_json index_head(const std::string& origin) {
  nlohmann::ordered_json index = {{"format", "ckpt-archive"}, {"version", {kCkptMajor, kCkptMinor}}, {"alignment", kCkptAlignment}, {"origin", origin}};
  index["tensors"] = nlohmann::ordered_json::array();
  index["sections"] = nlohmann::ordered_json::array();
  return index;
}

nlohmann::ordered_json tensor_entry(const std::string& name, DType dtype, const std::vector<uint64_t>& shape, uint64_t offset, uint64_t length,
                                    const Sha256Digest& digest) {
  return {{"name", name}, {"dtype", std::string(dtype_name(dtype))}, {"shape", shape}, {"offset", offset}, {"length", length}, {"sha256", to_hex(digest)}};
}

nlohmann::ordered_json section_entry(const std::string& name, const std::string& kind, uint64_t offset, uint64_t length, uint64_t size, bool zlib,
                                     const Sha256Digest& digest) {
  return {{"name", name}, {"kind", kind}, {"offset", offset}, {"length", length}, {"size", size}, {"compression", zlib ? "zlib" : "none"}, {"sha256", to_hex(digest)}};
}

// Zero padding to the next multiple of 4096; returns that offset.
uint64_t next_slot(AtomicFileSink& sink, const std::string& path) {
  const auto at = align_up(sink.position(), kCkptAlignment);
  if (!at) throw Error(ErrorCode::Overflow, path, Error::kNoOffset, "layout", "the archive would exceed 2^64 bytes");
  sink.write_zeros(*at - sink.position());
  return *at;
}

// New sections, each at its slot, entered in the index.
void write_sections(AtomicFileSink& sink, nlohmann::ordered_json& index, const std::vector<CkptInputSection>& sections, const std::string& path) {
  for (const auto& in : sections) {
    const StoredSection x = encode_section(in, path);
    index["sections"].push_back(section_entry(x.name, x.kind, next_slot(sink, path), x.stored.size(), x.size, x.zlib, x.sha256));
    sink.write(x.stored);
  }
}

// The index (at the next multiple of 64) and the trailer that points at it; unsigned.
void write_index_and_trailer(AtomicFileSink& sink, const nlohmann::ordered_json& index) {
  const std::string index_text = index.dump();
  const auto index_bytes = std::as_bytes(std::span(index_text.data(), index_text.size()));
  const uint64_t index_offset = *align_up(sink.position(), 64);
  sink.write_zeros(index_offset - sink.position());
  sink.write(index_bytes);
  std::array<std::byte, kCkptTrailerBytes> trailer{};
  std::memcpy(trailer.data(), "CKPTIDX", 8);
  const uint64_t index_length = index_bytes.size();
  const uint32_t index_crc = ckpt_crc32(index_bytes);
  std::memcpy(trailer.data() + 8, &index_offset, 8);
  std::memcpy(trailer.data() + 16, &index_length, 8);
  std::memcpy(trailer.data() + 24, &index_crc, 4);
  const uint32_t trailer_crc = ckpt_crc32(trailer);  // bytes 28..31 still zero
  std::memcpy(trailer.data() + 28, &trailer_crc, 4);
  sink.write(trailer);
}

// Counts, and hashes unless told not to, what passes through to the file.
class HashingSink final : public ByteSink {
 public:
  HashingSink(ByteSink& out, bool hash) : out_(out), hashing_(hash) {}
  void write(std::span<const std::byte> bytes) override {
    if (hashing_) hash_.update(bytes);
    out_.write(bytes);
    n_ += bytes.size();
  }
  void write_from(const MappedFile& file, std::span<const std::byte> range) override {
    if (hashing_) hash_.update(range);
    out_.write_from(file, range);
    n_ += range.size();
  }
  uint64_t position() const override { return n_; }
  const std::string& name() const override { return out_.name(); }
  Sha256Digest finish() { return hash_.finish(); }

 private:
  ByteSink& out_;
  bool hashing_;
  Sha256 hash_;
  uint64_t n_ = 0;
};

// One tensor to store: its bytes come from `write`; `digest` when already known.
struct ArchiveItem {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  TensorDataWriter write;
  std::optional<Sha256Digest> digest;
};

// Tensors (canonical order) from the lead page on, each at the next multiple of 4096, hashed while they
// stream when their digest is not given; then the sections, the index and the trailer.
void write_archive(const std::string& path, const std::string& origin, std::vector<ArchiveItem> tensors, std::vector<CkptInputSection> sections) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& x, const auto& y) { return ckpt_name_less(x.name, y.name); });
  std::sort(sections.begin(), sections.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].name == tensors[i - 1].name) throw Error(ErrorCode::DuplicateName, path, Error::kNoOffset, tensors[i].name, "two tensors of this name");
  }
  nlohmann::ordered_json index = index_head(origin);
  AtomicFileSink sink(path);
  std::array<std::byte, kCkptAlignment> lead{};
  std::memcpy(lead.data(), "CKPTARC", 8);
  std::memcpy(lead.data() + 8, &kCkptMajor, 2);
  std::memcpy(lead.data() + 10, &kCkptMinor, 2);
  sink.write(lead);
  for (auto& t : tensors) {
    const auto expect = ckpt_tensor_bytes(t.dtype, t.shape);
    if (!expect) throw Error(ErrorCode::BadShape, path, Error::kNoOffset, "tensor '" + t.name + "'", std::string(dtype_name(t.dtype)) + " cannot hold this shape");
    const uint64_t at = next_slot(sink, path);
    HashingSink hashing(sink, !t.digest);
    t.write(hashing);
    if (hashing.position() != *expect) {
      throw Error(ErrorCode::SizeMismatch, path, at, "tensor '" + t.name + "'", fmt::format("{} bytes written for a tensor of {}", hashing.position(), *expect));
    }
    index["tensors"].push_back(tensor_entry(t.name, t.dtype, t.shape, at, *expect, t.digest ? *t.digest : hashing.finish()));
  }
  write_sections(sink, index, sections, path);
  write_index_and_trailer(sink, index);
  sink.commit();
}

}  // namespace

void write_ckpt_archive(const std::string& path, const std::string& origin, std::vector<CkptInputTensor> tensors,
                        std::vector<CkptInputSection> sections, unsigned threads) {
  // Mapped bytes hash on every thread first; the write pass then reads them from the page cache.
  std::vector<Sha256Digest> digests(tensors.size());
  parallel_each(tensors.size(), threads, [&](size_t i) { digests[i] = sha256(tensors[i].data); });
  std::vector<ArchiveItem> items;
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto& t = tensors[i];
    items.push_back({std::move(t.name), t.dtype, std::move(t.shape), [data = t.data](ByteSink& out) { out.write(data); }, digests[i]});
  }
  write_archive(path, origin, std::move(items), std::move(sections));
}

void write_ckpt_archive_streamed(const std::string& path, const std::string& origin, std::vector<TensorToWrite> tensors,
                                 std::vector<CkptInputSection> sections) {
  std::vector<ArchiveItem> items;
  for (auto& t : tensors) items.push_back({std::move(t.name), t.dtype, std::move(t.shape), std::move(t.write_data), std::nullopt});
  write_archive(path, origin, std::move(items), std::move(sections));
}

void update_ckpt_archive(const std::string& path, const std::string& output, std::vector<CkptInputSection> add, const std::vector<std::string>& remove) {
  const CkptArchive a = read_ckpt_archive(path);
  for (const auto& name : remove) {
    if (!a.find_section(name)) throw Error(ErrorCode::NotFound, path, a.index_offset, "section '" + name + "'", "no section of this name");
  }
  auto removed = [&](const std::string& name) { return std::find(remove.begin(), remove.end(), name) != remove.end(); };
  std::sort(add.begin(), add.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  for (size_t i = 0; i < add.size(); ++i) {
    if ((a.find_section(add[i].name) && !removed(add[i].name)) || (i > 0 && add[i].name == add[i - 1].name)) {
      throw Error(ErrorCode::DuplicateName, path, a.index_offset, "section '" + add[i].name + "'", "the archive already has a section of this name");
    }
  }
  // Everything before the first removed section stays byte for byte where it is (copied in the
  // kernel, so tensor data is never read into this process); what follows is laid out again.
  uint64_t keep_end = kCkptAlignment;
  for (const auto& t : a.tensors) keep_end = std::max(keep_end, t.offset + t.length);
  size_t first_moved = a.sections.size();
  for (size_t i = 0; i < a.sections.size(); ++i) {
    if (removed(a.sections[i].name)) {
      first_moved = i;
      break;
    }
    keep_end = a.sections[i].offset + a.sections[i].length;
  }
  nlohmann::ordered_json index = index_head(a.origin);
  for (const auto& t : a.tensors) index["tensors"].push_back(tensor_entry(t.name, t.dtype, t.shape, t.offset, t.length, t.sha256));
  for (size_t i = 0; i < first_moved; ++i) {
    const auto& x = a.sections[i];
    index["sections"].push_back(section_entry(x.name, x.kind, x.offset, x.length, x.size, x.zlib, x.sha256));
  }
  AtomicFileSink sink(output);
  sink.write_from(*a.file, a.file->bytes().first(keep_end));
  for (size_t i = first_moved; i < a.sections.size(); ++i) {
    const auto& x = a.sections[i];
    if (removed(x.name)) continue;
    index["sections"].push_back(section_entry(x.name, x.kind, next_slot(sink, output), x.length, x.size, x.zlib, x.sha256));
    sink.write_from(*a.file, x.stored);
  }
  write_sections(sink, index, add, output);
  write_index_and_trailer(sink, index);
  sink.commit();
}

}  // namespace ckpt
