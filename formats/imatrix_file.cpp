#include "formats/imatrix_file.h"

#include <cmath>
#include <cstring>

#include "formats/error.h"
#include "formats/gguf.h"
#include "formats/mapped_file.h"

namespace ckpt {

namespace {

// Every value finite, as llama-quantize requires before it quantizes anything.
void check_finite(const std::string& file, uint64_t offset, const std::string& entry, const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) {
      throw Error(ErrorCode::BadValue, file, offset == Error::kNoOffset ? offset : offset + 4 * i, "entry '" + entry + "'",
                  "value " + std::to_string(i) + " is not finite");
    }
  }
}

ImportanceMatrix parse_gguf_imatrix(const std::string& name, std::shared_ptr<const MappedFile> file) {
  const GgufFile g = read_gguf(std::move(file));
  ImportanceMatrix m;
  m.path = name;
  const auto* datasets = g.find_kv("imatrix.datasets");
  const auto* chunks = g.find_kv("imatrix.chunk_count");
  if (!datasets || !chunks || !g.find_kv("imatrix.chunk_size")) {
    throw Error(ErrorCode::BadValue, name, Error::kNoOffset, "imatrix.datasets/chunk_count/chunk_size",
                "missing: not an importance matrix written by llama-imatrix (llama-quantize refuses it too)");
  }
  if (datasets->value.is_array() && datasets->value.array().element_type == GgufType::String) {
    m.datasets = datasets->value.array().string_list();
  }
  m.chunk_count = static_cast<uint32_t>(chunks->value.as_u64().value_or(0));
  std::map<std::string, std::pair<const GgufTensorInfo*, const GgufTensorInfo*>> parts;
  for (const auto& t : g.tensors) {
    if (t.name.ends_with(".in_sum2")) parts[t.name.substr(0, t.name.size() - 8)].first = &t;
    if (t.name.ends_with(".counts")) parts[t.name.substr(0, t.name.size() - 7)].second = &t;
  }
  if (parts.empty()) throw Error(ErrorCode::BadValue, name, Error::kNoOffset, "tensors", "no NAME.in_sum2 / NAME.counts pairs");
  for (const auto& [entry, pair] : parts) {
    const auto [sums, counts] = pair;
    const GgufTensorInfo* any = sums ? sums : counts;
    if (!sums || !counts) {
      throw Error(ErrorCode::BadValue, name, any->info_offset_in_file, "entry '" + entry + "'",
                  std::string("has ") + (sums ? "in_sum2 but no counts" : "counts but no in_sum2"));
    }
    for (const auto* t : {sums, counts}) {
      if (t->dtype != DType::F32) throw Error(ErrorCode::BadDType, name, t->info_offset_in_file, "tensor '" + t->name + "'", "must be F32");
    }
    const uint64_t nval = sums->n_bytes / 4, ncounts = counts->n_bytes / 4;
    if (ncounts == 0 || nval == 0 || nval % ncounts != 0) {
      throw Error(ErrorCode::BadShape, name, counts->info_offset_in_file, "entry '" + entry + "'",
                  std::to_string(nval) + " sums do not split into " + std::to_string(ncounts) + " experts");
    }
    std::vector<float> s(nval), c(ncounts);
    std::memcpy(s.data(), g.data(*sums).data(), nval * 4);
    std::memcpy(c.data(), g.data(*counts).data(), ncounts * 4);
    check_finite(name, g.data_offset + sums->offset_in_data, entry, s);
    check_finite(name, g.data_offset + counts->offset_in_data, entry, c);
    const uint64_t ne0 = nval / ncounts;
    std::vector<float> e(nval);
    for (uint64_t j = 0; j < ncounts; ++j) {
      // llama.cpp stores counts as f32 but uses them rounded to integers.
      const auto count = static_cast<float>(std::lround(c[j]));
      for (uint64_t i = 0; i < ne0; ++i) e[j * ne0 + i] = count > 0.0f ? s[j * ne0 + i] / count : 1.0f;
    }
    check_finite(name, Error::kNoOffset, entry, e);
    m.entries.emplace(entry, std::move(e));
  }
  return m;
}

class LegacyReader {
 public:
  LegacyReader(const std::string& name, std::span<const std::byte> bytes) : name_(name), bytes_(bytes) {}
  uint64_t offset() const { return pos_; }
  bool at_end() const { return pos_ >= bytes_.size(); }
  int32_t i32(const std::string& field) {
    need(4, field);
    int32_t v;
    std::memcpy(&v, bytes_.data() + pos_, 4);
    pos_ += 4;
    return v;
  }
  std::string text(uint64_t n, const std::string& field) {
    need(n, field);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::vector<float> floats(uint64_t n, const std::string& field) {
    if (n > (bytes_.size() - pos_) / 4) {
      throw Error(ErrorCode::TooLarge, name_, pos_, field, std::to_string(n) + " values but only " + std::to_string((bytes_.size() - pos_) / 4) + " fit in the rest of the file");
    }
    std::vector<float> v(n);
    std::memcpy(v.data(), bytes_.data() + pos_, n * 4);
    pos_ += n * 4;
    return v;
  }

 private:
  void need(uint64_t n, const std::string& field) const {
    if (n > bytes_.size() - pos_) throw Error(ErrorCode::Truncated, name_, pos_, field, "needs " + std::to_string(n) + " bytes, " + std::to_string(bytes_.size() - pos_) + " left");
  }
  const std::string& name_;
  std::span<const std::byte> bytes_;
  uint64_t pos_ = 0;
};

ImportanceMatrix parse_legacy_imatrix(const std::string& name, std::span<const std::byte> bytes) {
  ImportanceMatrix m;
  m.path = name;
  m.legacy = true;
  LegacyReader r(name, bytes);
  const int32_t n_entries = r.i32("n_entries");
  // Each entry takes at least 16 bytes (three i32 and one value): a count beyond that is a lie.
  if (n_entries < 1 || static_cast<uint64_t>(n_entries) > bytes.size() / 16) {
    throw Error(ErrorCode::TooLarge, name, 0, "n_entries", std::to_string(n_entries) + " entries cannot fit in " + std::to_string(bytes.size()) + " bytes");
  }
  for (int32_t i = 0; i < n_entries; ++i) {
    const std::string field = "entry " + std::to_string(i);
    const uint64_t at = r.offset();
    const int32_t len = r.i32(field + " name length");
    if (len < 1 || len > 1024) throw Error(ErrorCode::TooLarge, name, at, field + " name length", std::to_string(len) + " is not in 1..1024");
    const std::string entry = r.text(static_cast<uint64_t>(len), field + " name");
    const int32_t ncall = r.i32("entry '" + entry + "' ncall");
    const uint64_t nval_at = r.offset();
    const int32_t nval = r.i32("entry '" + entry + "' nval");
    if (nval < 1) throw Error(ErrorCode::BadValue, name, nval_at, "entry '" + entry + "' nval", std::to_string(nval) + " values");
    const uint64_t values_at = r.offset();
    std::vector<float> v = r.floats(static_cast<uint64_t>(nval), "entry '" + entry + "' values");
    check_finite(name, values_at, entry, v);
    if (ncall > 0) {
      for (float& x : v) x = x / static_cast<float>(ncall);
    }
    if (!m.entries.emplace(entry, std::move(v)).second) {
      throw Error(ErrorCode::DuplicateName, name, at, "entry '" + entry + "'", "appears twice");
    }
  }
  if (!r.at_end()) {
    m.chunk_count = static_cast<uint32_t>(std::max(0, r.i32("chunk_count")));
    if (!r.at_end()) {
      const uint64_t at = r.offset();
      const int32_t len = r.i32("dataset name length");
      if (len < 0 || len > 65536) throw Error(ErrorCode::TooLarge, name, at, "dataset name length", std::to_string(len) + " is not in 0..65536");
      if (len > 0) m.datasets.push_back(r.text(static_cast<uint64_t>(len), "dataset name"));
    }
  }
  return m;
}

}  // namespace

ImportanceMatrix parse_imatrix(const std::string& name, std::span<const std::byte> bytes) {
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return parse_gguf_imatrix(name, MappedFile::from_bytes(name, bytes));
  return parse_legacy_imatrix(name, bytes);
}

ImportanceMatrix read_imatrix(const std::string& path) {
  const auto file = MappedFile::open(path);
  const auto bytes = file->bytes();
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) return parse_gguf_imatrix(path, file);
  return parse_legacy_imatrix(path, bytes);
}

}  // namespace ckpt
