#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/checked_math.h"
#include "formats/ckpt_archive.h"
#include "formats/error.h"
#include "formats/parallel.h"

namespace ckpt {

namespace {

constexpr char kLeadMagic[8] = {'C', 'K', 'P', 'T', 'A', 'R', 'C', '\0'};
constexpr char kTrailerMagic[8] = {'C', 'K', 'P', 'T', 'I', 'D', 'X', '\0'};

template <typename T>
T le_at(std::span<const std::byte> b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

uint32_t crc32_of(std::span<const std::byte> b) {
  uLong c = crc32(0L, Z_NULL, 0);
  for (size_t at = 0; at < b.size(); at += 1u << 30) {
    const size_t n = std::min<size_t>(b.size() - at, 1u << 30);
    c = crc32(c, reinterpret_cast<const Bytef*>(b.data() + at), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(c);
}

}  // namespace

std::optional<uint64_t> ckpt_tensor_bytes(DType t, const std::vector<uint64_t>& shape) {
  const auto n = checked_product(shape);
  if (!n) return std::nullopt;
  const auto& info = dtype_info(t);
  if (info.block_elems > 1 && (shape.empty() || shape.back() % info.block_elems != 0)) return std::nullopt;
  if (info.block_elems == 0) return std::nullopt;
  return checked_mul(*n / info.block_elems, info.block_bytes);
}

uint32_t ckpt_crc32(std::span<const std::byte> bytes) { return crc32_of(bytes); }

bool CkptSection::known_kind() const {
  return kind == "file" || kind == "gguf-metadata" || kind == "tensor-order" || kind == "safetensors-metadata" || kind == "provenance" ||
         kind == "adapter" || kind == "adapter-file";
}

bool is_ckpt_archive(std::span<const std::byte> head) { return head.size() >= 8 && std::memcmp(head.data(), kLeadMagic, 8) == 0; }

bool is_ckpt_archive_path(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, 8);
  return in.gcount() == 8 && is_ckpt_archive(std::as_bytes(std::span(head)));
}

const CkptTensor* CkptArchive::find_tensor(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<const CkptTensor*> CkptArchive::tensors_in_source_order() const {
  std::vector<const CkptTensor*> out;
  for (const auto& t : tensors) out.push_back(&t);
  const auto j = nlohmann::json::parse(section_text("tensor-order"), nullptr, false);  // "" (absent) is not an array
  if (!j.is_array() || j.size() != tensors.size()) return out;
  std::unordered_map<std::string_view, const CkptTensor*> by_name;
  for (const auto& t : tensors) by_name.emplace(t.name, &t);
  std::vector<const CkptTensor*> ordered;
  for (const auto& n : j) {
    const auto it = n.is_string() ? by_name.find(n.get_ref<const std::string&>()) : by_name.end();
    if (it == by_name.end() || !it->second) return out;  // not a permutation of the tensors: ignored
    ordered.push_back(it->second);
    it->second = nullptr;
  }
  return ordered;
}

const CkptSection* CkptArchive::find_section(std::string_view name) const {
  for (const auto& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::vector<std::byte> CkptArchive::section_bytes(const CkptSection& s) const {
  std::vector<std::byte> out;
  if (!s.zlib) {
    out.assign(s.stored.begin(), s.stored.end());
  } else {
    out.resize(s.size);
    uLongf n = static_cast<uLongf>(s.size);
    const int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(s.stored.data()), static_cast<uLong>(s.stored.size()));
    if (rc != Z_OK || n != s.size) {
      throw Error(ErrorCode::BadChecksum, file->path(), s.offset, "section '" + s.name + "'", fmt::format("zlib data does not inflate to its {} bytes", s.size));
    }
  }
  if (out.size() != s.size || sha256(out) != s.sha256) {
    throw Error(ErrorCode::BadChecksum, file->path(), s.offset, "section '" + s.name + "'", "SHA-256 does not match the index");
  }
  return out;
}

std::string CkptArchive::section_text(std::string_view name) const {
  const CkptSection* s = find_section(name);
  if (!s) return {};
  const auto b = section_bytes(*s);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

CkptArchive read_ckpt_archive(const std::string& path) { return read_ckpt_archive(MappedFile::open(path)); }

CkptArchive read_ckpt_archive(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  const auto bytes = file->bytes();
  CkptArchive a;
  a.file = file;
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kLeadMagic, 8) != 0) throw Error(ErrorCode::BadMagic, path, 0, "magic", "not a ckpt archive (no CKPTARC magic)");
  a.major = le_at<uint16_t>(bytes, 8);
  a.minor = le_at<uint16_t>(bytes, 10);
  if (a.major > kCkptMajor) {
    throw Error(ErrorCode::BadVersion, path, 8, "version", fmt::format("{}.{} is newer than this ckpt reads ({}.x): update ckpt", a.major, a.minor, kCkptMajor));
  }
  if (a.major == 0) throw Error(ErrorCode::BadVersion, path, 8, "version", "major version 0 does not exist");
  if (bytes.size() < kCkptAlignment + kCkptTrailerBytes) {
    throw Error(ErrorCode::Truncated, path, bytes.size(), "trailer", fmt::format("{} bytes cannot hold the lead page and the trailer", bytes.size()));
  }
  const uint64_t t0 = bytes.size() - kCkptTrailerBytes;
  const auto trailer = bytes.subspan(t0, kCkptTrailerBytes);
  if (std::memcmp(trailer.data(), kTrailerMagic, 8) != 0) {
    throw Error(ErrorCode::Truncated, path, t0, "trailer", "no CKPTIDX trailer at the end: the file is truncated or was not finished");
  }
  std::array<std::byte, kCkptTrailerBytes> zeroed;
  std::memcpy(zeroed.data(), trailer.data(), kCkptTrailerBytes);
  std::memset(zeroed.data() + 28, 0, 4);
  if (crc32_of(zeroed) != le_at<uint32_t>(trailer, 28)) throw Error(ErrorCode::BadChecksum, path, t0 + 28, "trailer_crc32", "the trailer's CRC32 does not match");
  a.index_offset = le_at<uint64_t>(trailer, 8);
  a.index_length = le_at<uint64_t>(trailer, 16);
  a.signature_offset = le_at<uint64_t>(trailer, 32);
  a.signature_length = le_at<uint64_t>(trailer, 40);
  if (a.index_length > kCkptMaxIndexBytes) throw Error(ErrorCode::TooLarge, path, t0 + 16, "index_length", fmt::format("{} bytes exceeds the cap of {}", a.index_length, kCkptMaxIndexBytes));
  const auto index_end = checked_add(a.index_offset, a.index_length);
  if (a.index_offset < kCkptAlignment || !index_end || *index_end > t0) {
    throw Error(ErrorCode::BadOffset, path, t0 + 8, "index_offset", fmt::format("index [{}, +{}) is not between the lead page and the trailer", a.index_offset, a.index_length));
  }
  const uint64_t sig_end_limit = t0;
  if (a.signature_offset) {
    const auto sig_end = checked_add(a.signature_offset, a.signature_length);
    if (a.signature_offset < *index_end || !sig_end || *sig_end > sig_end_limit || a.signature_length > 4096) {
      throw Error(ErrorCode::BadOffset, path, t0 + 32, "signature_offset", "the signature does not lie between the index and the trailer");
    }
  }
  const auto index = bytes.subspan(a.index_offset, a.index_length);
  if (crc32_of(index) != le_at<uint32_t>(trailer, 24)) throw Error(ErrorCode::BadChecksum, path, a.index_offset, "index", "the index's CRC32 does not match: the index was changed or damaged");
  a.manifest = sha256(index);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(reinterpret_cast<const char*>(index.data()), reinterpret_cast<const char*>(index.data()) + index.size());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::BadJson, path, a.index_offset, "index", std::string("not JSON: ") + e.what());
  }
  auto field_error = [&](const std::string& field, const std::string& why) { return Error(ErrorCode::BadJson, path, a.index_offset, field, why); };
  if (!j.is_object() || j.value("format", "") != "ckpt-archive") throw field_error("format", "the index is not a ckpt-archive index");
  if (!j.contains("tensors") || !j["tensors"].is_array() || !j.contains("sections") || !j["sections"].is_array()) {
    throw field_error("tensors", "the index needs tensors and sections arrays");
  }
  if (j.contains("origin") && j["origin"].is_string()) a.origin = j["origin"].get<std::string>();
  auto get_u64 = [&](const nlohmann::json& o, const char* key, const std::string& what) -> uint64_t {
    if (!o.contains(key) || !o[key].is_number_unsigned()) throw field_error(what + "." + key, "missing or not an unsigned integer");
    return o[key].get<uint64_t>();
  };
  auto get_str = [&](const nlohmann::json& o, const char* key, const std::string& what) -> std::string {
    if (!o.contains(key) || !o[key].is_string()) throw field_error(what + "." + key, "missing or not a string");
    return o[key].get<std::string>();
  };
  auto get_digest = [&](const nlohmann::json& o, const std::string& what) {
    Sha256Digest d{};
    if (!from_hex(get_str(o, "sha256", what), d)) throw field_error(what + ".sha256", "not 64 lowercase hex digits");
    return d;
  };
  // Everything stored lies in [4096, index_offset), aligned, in increasing order, without overlap.
  uint64_t cursor = kCkptAlignment;
  auto place = [&](uint64_t offset, uint64_t length, const std::string& what) {
    const auto end = checked_add(offset, length);
    if (offset % kCkptAlignment != 0) throw Error(ErrorCode::BadAlignment, path, offset, what, fmt::format("offset {} is not a multiple of {}", offset, kCkptAlignment));
    if (offset < cursor || !end || *end > a.index_offset) {
      throw Error(ErrorCode::BadOffset, path, offset, what, fmt::format("[{}, +{}) overlaps earlier data or runs past the index at {}", offset, length, a.index_offset));
    }
    cursor = *end;
  };
  std::vector<std::string> names;
  for (const auto& t : j["tensors"]) {
    if (!t.is_object()) throw field_error("tensors", "an entry is not an object");
    CkptTensor x;
    x.name = get_str(t, "name", "tensor");
    const std::string what = "tensor '" + x.name + "'";
    if (x.name.empty()) throw Error(ErrorCode::EmptyName, path, a.index_offset, "tensor", "empty name");
    const auto dt = dtype_from_name(get_str(t, "dtype", what));
    if (!dt) throw Error(ErrorCode::BadDType, path, a.index_offset, what, "unknown dtype '" + t["dtype"].get<std::string>() + "'");
    x.dtype = *dt;
    if (!t.contains("shape") || !t["shape"].is_array() || t["shape"].size() > 8) throw field_error(what + ".shape", "missing, not an array, or more than 8 dimensions");
    for (const auto& d : t["shape"]) {
      if (!d.is_number_unsigned()) throw field_error(what + ".shape", "dimensions must be unsigned integers");
      x.shape.push_back(d.get<uint64_t>());
    }
    x.offset = get_u64(t, "offset", what);
    x.length = get_u64(t, "length", what);
    const auto expect = ckpt_tensor_bytes(x.dtype, x.shape);
    if (!expect || *expect != x.length) {
      throw Error(ErrorCode::SizeMismatch, path, x.offset, what, fmt::format("{} bytes, but {} of shape [{}] take {}", x.length, dtype_name(x.dtype), fmt::join(x.shape, ", "),
                                                                             expect ? std::to_string(*expect) : std::string("an impossible size")));
    }
    place(x.offset, x.length, what);
    x.sha256 = get_digest(t, what);
    x.data = bytes.subspan(x.offset, x.length);
    names.push_back(x.name);
    a.tensors.push_back(std::move(x));
  }
  std::vector<std::string> section_names;
  for (const auto& s : j["sections"]) {
    if (!s.is_object()) throw field_error("sections", "an entry is not an object");
    CkptSection x;
    x.name = get_str(s, "name", "section");
    const std::string what = "section '" + x.name + "'";
    if (x.name.empty()) throw Error(ErrorCode::EmptyName, path, a.index_offset, "section", "empty name");
    x.kind = get_str(s, "kind", what);
    x.offset = get_u64(s, "offset", what);
    x.length = get_u64(s, "length", what);
    x.size = get_u64(s, "size", what);
    const std::string comp = get_str(s, "compression", what);
    if (comp != "none" && comp != "zlib") throw Error(ErrorCode::Unsupported, path, x.offset, what, "compression '" + comp + "' (none or zlib)");
    x.zlib = comp == "zlib";
    if (x.size > kCkptMaxSectionBytes || (!x.zlib && x.size != x.length)) {
      throw Error(ErrorCode::SizeMismatch, path, x.offset, what, fmt::format("decoded size {} for {} stored bytes", x.size, x.length));
    }
    place(x.offset, x.length, what);
    x.sha256 = get_digest(s, what);
    x.stored = bytes.subspan(x.offset, x.length);
    section_names.push_back(x.name);
    a.sections.push_back(std::move(x));
  }
  for (auto* list : {&names, &section_names}) {
    std::sort(list->begin(), list->end());
    if (const auto dup = std::adjacent_find(list->begin(), list->end()); dup != list->end()) {
      throw Error(ErrorCode::DuplicateName, path, a.index_offset, "'" + *dup + "'", "appears twice in the index");
    }
  }
  return a;
}

CkptVerifyReport verify_ckpt_archive(const CkptArchive& a, unsigned threads) {
  CkptVerifyReport report;
  std::vector<char> bad(a.tensors.size(), 0);
  std::atomic<uint64_t> hashed{0};
  parallel_each(a.tensors.size(), threads, [&](size_t i) {
    const auto& t = a.tensors[i];
    a.file->advise_sequential(t.offset, t.length);
    bad[i] = sha256(t.data) != t.sha256;
    hashed += t.length;
  });
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    if (bad[i]) report.bad_tensors.push_back(a.tensors[i].name);
  }
  report.bytes_hashed = hashed.load();
  for (const auto& s : a.sections) {
    try {
      a.section_bytes(s);
    } catch (const Error&) {
      report.bad_sections.push_back(s.name);
    }
    report.bytes_hashed += s.length;
  }
  return report;
}

}  // namespace ckpt
