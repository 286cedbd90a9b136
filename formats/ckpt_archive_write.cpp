#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/checked_math.h"
#include "formats/ckpt_archive.h"
#include "formats/error.h"

namespace ckpt {

uint32_t ckpt_crc32(std::span<const std::byte> bytes);  // ckpt_archive_read.cpp

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

void write_ckpt_archive(const std::string& path, const std::string& origin, std::vector<CkptInputTensor> tensors,
                        std::vector<CkptInputSection> sections, unsigned threads) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& x, const auto& y) { return ckpt_name_less(x.name, y.name); });
  std::sort(sections.begin(), sections.end(), [](const auto& x, const auto& y) { return x.name < y.name; });
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].name == tensors[i - 1].name) throw Error(ErrorCode::DuplicateName, path, Error::kNoOffset, tensors[i].name, "two tensors of this name");
  }
  // Hash every tensor first (threads over tensors); the bytes are mapped, so the write pass below
  // reads them from the page cache.
  std::vector<Sha256Digest> digests(tensors.size());
  {
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < tensors.size();) digests[i] = sha256(tensors[i].data);
    };
    std::vector<std::thread> pool;
    for (unsigned k = 1; k < std::max(1u, threads); ++k) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  }
  struct StoredSection {
    const CkptInputSection* in;
    std::vector<std::byte> stored;
    bool zlib;
  };
  std::vector<StoredSection> stored;
  for (const auto& s : sections) {
    StoredSection x{&s, {}, false};
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
    stored.push_back(std::move(x));
  }
  // Layout.
  nlohmann::ordered_json index = {{"format", "ckpt-archive"}, {"version", {kCkptMajor, kCkptMinor}}, {"alignment", kCkptAlignment}, {"origin", origin}};
  index["tensors"] = nlohmann::ordered_json::array();
  index["sections"] = nlohmann::ordered_json::array();
  uint64_t at = kCkptAlignment;
  auto next_slot = [&](uint64_t length) {
    const uint64_t here = at;
    const auto end = checked_add(at, length);
    if (!end) throw Error(ErrorCode::Overflow, path, Error::kNoOffset, "layout", "the archive would exceed 2^64 bytes");
    at = *align_up(*end, kCkptAlignment);
    return here;
  };
  std::vector<uint64_t> tensor_at, section_at;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    tensor_at.push_back(next_slot(t.data.size()));
    index["tensors"].push_back({{"name", t.name}, {"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"offset", tensor_at.back()},
                                {"length", t.data.size()}, {"sha256", to_hex(digests[i])}});
  }
  for (const auto& s : stored) {
    section_at.push_back(next_slot(s.stored.size()));
    index["sections"].push_back({{"name", s.in->name}, {"kind", s.in->kind}, {"offset", section_at.back()}, {"length", s.stored.size()},
                                 {"size", s.in->bytes.size()}, {"compression", s.zlib ? "zlib" : "none"}, {"sha256", to_hex(sha256(s.in->bytes))}});
  }
  const std::string index_text = index.dump();
  const auto index_bytes = std::as_bytes(std::span(index_text.data(), index_text.size()));
  // Write.
  AtomicFileSink sink(path);
  std::array<std::byte, kCkptAlignment> lead{};
  std::memcpy(lead.data(), "CKPTARC", 8);
  std::memcpy(lead.data() + 8, &kCkptMajor, 2);
  std::memcpy(lead.data() + 10, &kCkptMinor, 2);
  sink.write(lead);
  auto pad_to = [&](uint64_t offset) { sink.write_zeros(offset - sink.position()); };
  for (size_t i = 0; i < tensors.size(); ++i) {
    pad_to(tensor_at[i]);
    sink.write(tensors[i].data);
  }
  for (size_t i = 0; i < stored.size(); ++i) {
    pad_to(section_at[i]);
    sink.write(stored[i].stored);
  }
  const uint64_t index_offset = *align_up(sink.position(), 64);
  pad_to(index_offset);
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
  sink.commit();
}

}  // namespace ckpt
