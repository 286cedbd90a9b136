// GGUF reader: header, KV section, tensor infos, data-section checks (rules in gguf.h).
#include <unordered_set>

#include "formats/byte_reader.h"
#include "formats/checked_math.h"
#include "formats/gguf.h"
#include "formats/lfs_pointer.h"
#include "formats/utf8.h"

namespace ckpt {

namespace {

constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key (refused later), type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, n_dims 0, type, offset

std::string_view read_gguf_string_view(ByteReader& r, std::string_view field) {
  const uint64_t at = r.offset();
  const uint64_t n = r.read<uint64_t>(field);
  if (n > kGgufMaxStringBytes) {
    r.fail_at(at, ErrorCode::TooLarge, field, "string length " + std::to_string(n) + " exceeds the 1 GiB cap");
  }
  if (n > r.remaining()) {
    r.fail_at(at, ErrorCode::Truncated, field,
              "string length " + std::to_string(n) + " but only " + std::to_string(r.remaining()) + " bytes remain");
  }
  return r.read_chars(n, field);
}

std::string read_gguf_string(ByteReader& r, std::string_view field) { return std::string(read_gguf_string_view(r, field)); }

GgufType read_value_type(ByteReader& r, std::string_view field) {
  const uint64_t at = r.offset();
  const auto raw = r.read<int32_t>(field);
  if (raw < 0 || static_cast<uint32_t>(raw) >= kGgufTypeCount) {
    r.fail_at(at, ErrorCode::BadValueType, field, "invalid GGUF value type " + std::to_string(raw));
  }
  return static_cast<GgufType>(raw);
}

GgufArray read_array(ByteReader& r, const std::string& field) {
  GgufArray a;
  const uint64_t at = r.offset();
  a.element_type = read_value_type(r, field + " element type");
  if (a.element_type == GgufType::Array) {
    r.fail_at(at, ErrorCode::BadValueType, field, "arrays of arrays are not supported (llama.cpp refuses them)");
  }
  const uint64_t count_at = r.offset();
  a.count = r.read<uint64_t>(field + " count");
  // Every element needs at least this many bytes; check before allocating anything.
  const uint64_t min_elem = a.element_type == GgufType::String ? 8 : gguf_type_size(a.element_type);
  const auto needed = checked_mul(a.count, min_elem);
  if (a.count > kGgufMaxArrayCount) {
    r.fail_at(count_at, ErrorCode::TooLarge, field + " count",
              std::to_string(a.count) + " elements exceeds the 2^30 cap");
  }
  if (!needed || *needed > r.remaining()) {
    r.fail_at(count_at, ErrorCode::Truncated, field + " count",
              std::to_string(a.count) + " elements need at least " + (needed ? std::to_string(*needed) : "2^64") +
                  " bytes, only " + std::to_string(r.remaining()) + " remain");
  }
  if (a.element_type == GgufType::String) {
    a.string_ends.reserve(a.count);
    for (uint64_t i = 0; i < a.count; ++i) a.push_string(read_gguf_string_view(r, field));
  } else {
    const uint64_t at_bytes = r.offset();
    const auto bytes = r.read_bytes(*needed, field);
    if (a.element_type == GgufType::Bool) {
      for (uint64_t i = 0; i < bytes.size(); ++i) {
        if (static_cast<uint8_t>(bytes[i]) > 1) r.fail_at(at_bytes + i, ErrorCode::BadValueType, field, "bool element is neither 0 nor 1");
      }
    }
    a.raw.assign(bytes.begin(), bytes.end());
  }
  return a;
}

GgufValue read_value(ByteReader& r, GgufType type, const std::string& field) {
  switch (type) {
    case GgufType::U8: return {r.read<uint8_t>(field)};
    case GgufType::I8: return {r.read<int8_t>(field)};
    case GgufType::U16: return {r.read<uint16_t>(field)};
    case GgufType::I16: return {r.read<int16_t>(field)};
    case GgufType::U32: return {r.read<uint32_t>(field)};
    case GgufType::I32: return {r.read<int32_t>(field)};
    case GgufType::F32: return {r.read<float>(field)};
    case GgufType::Bool: {
      const uint64_t at = r.offset();
      const uint8_t b = r.read<uint8_t>(field);
      // gguf.cpp reads a bool as one byte; anything but 0 or 1 means the file was not written by a GGUF writer.
      if (b > 1) r.fail_at(at, ErrorCode::BadValueType, field, "bool value " + std::to_string(b) + " is neither 0 nor 1");
      return {b != 0};
    }
    case GgufType::String: return {read_gguf_string(r, field)};
    case GgufType::Array: return {GgufArrayBox(read_array(r, field))};
    case GgufType::U64: return {r.read<uint64_t>(field)};
    case GgufType::I64: return {r.read<int64_t>(field)};
    case GgufType::F64: return {r.read<double>(field)};
  }
  r.fail(ErrorCode::BadValueType, field, "invalid GGUF value type");
}

uint64_t read_count(ByteReader& r, std::string_view field, uint64_t min_entry_bytes) {
  const uint64_t at = r.offset();
  const auto n = r.read<int64_t>(field);
  if (n < 0) r.fail_at(at, ErrorCode::TooLarge, field, "negative count " + std::to_string(n));
  const uint64_t count = static_cast<uint64_t>(n);
  const auto needed = checked_mul(count, min_entry_bytes);
  if (!needed || *needed > r.remaining()) {
    r.fail_at(at, ErrorCode::TooLarge, field,
              std::to_string(count) + " entries need at least " + (needed ? std::to_string(*needed) : "2^64") +
                  " bytes, only " + std::to_string(r.remaining()) + " remain");
  }
  return count;
}

void read_header(ByteReader& r, GgufFile& out) {
  if (r.size() < 4) r.fail(ErrorCode::Truncated, "magic", "file is shorter than the 4-byte magic");
  const auto magic = r.read_chars(4, "magic");
  if (magic != "GGUF") {
    std::string shown;
    for (char c : magic) shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    r.fail_at(0, ErrorCode::BadMagic, "magic", "expected \"GGUF\", found \"" + shown + "\"");
  }
  const uint64_t at = r.offset();
  out.version = r.read<uint32_t>("version");
  if ((out.version & 0xFFFF) == 0 && out.version != 0) {
    r.fail_at(at, ErrorCode::BadVersion, "version",
              "version " + std::to_string(out.version) + " looks byte-swapped: big-endian GGUF files are not supported");
  }
  if (out.version == 1) r.fail_at(at, ErrorCode::BadVersion, "version", "GGUF v1 is no longer supported");
  if (out.version < 2 || out.version > 3) {
    r.fail_at(at, ErrorCode::BadVersion, "version", "unsupported GGUF version " + std::to_string(out.version));
  }
}

void read_kvs(ByteReader& r, GgufFile& out, uint64_t n_kv) {
  // Views into the mapped file: no second copy of every key just to detect duplicates.
  std::unordered_set<std::string_view> keys;
  keys.reserve(n_kv);
  out.kvs.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKv kv;
    kv.offset_in_file = r.offset();
    const std::string_view key = read_gguf_string_view(r, "kv[" + std::to_string(i) + "] key");
    kv.key = std::string(key);
    const std::string field = "kv '" + kv.key + "'";
    if (kv.key.empty()) r.fail_at(kv.offset_in_file, ErrorCode::EmptyName, field, "empty key");
    if (const size_t bad = find_invalid_utf8(key); bad != std::string_view::npos) {
      r.fail_at(kv.offset_in_file + 8 + bad, ErrorCode::BadUtf8, field, "key is not valid UTF-8 (the GGUF spec requires it)");
    }
    if (!keys.insert(key).second) r.fail_at(kv.offset_in_file, ErrorCode::DuplicateName, field, "duplicate key");
    const GgufType type = read_value_type(r, field + " type");
    const uint64_t value_at = r.offset();
    kv.value = read_value(r, type, field);
    if (kv.key == "general.alignment") {
      if (type != GgufType::U32) {
        r.fail_at(value_at, ErrorCode::BadValueType, field,
                  "must be u32, found " + std::string(gguf_type_name(type)));
      }
      const uint32_t a = std::get<uint32_t>(kv.value.data);
      if (!is_power_of_two(a)) {
        r.fail_at(value_at, ErrorCode::BadAlignment, field, std::to_string(a) + " is not a non-zero power of two");
      }
      out.alignment = a;
    }
    out.kvs.push_back(std::move(kv));
  }
}

void read_tensor_infos(ByteReader& r, GgufFile& out, uint64_t n_tensors, const GgufReadOptions& options) {
  std::unordered_set<std::string> names;
  out.tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.info_offset_in_file = r.offset();
    t.name = read_gguf_string(r, "tensor[" + std::to_string(i) + "] name");
    const std::string field = "tensor '" + t.name + "'";
    if (t.name.empty()) r.fail_at(t.info_offset_in_file, ErrorCode::EmptyName, field, "empty tensor name");
    if (const size_t bad = find_invalid_utf8(t.name); bad != std::string_view::npos) {
      r.fail_at(t.info_offset_in_file + 8 + bad, ErrorCode::BadUtf8, field, "tensor name is not valid UTF-8");
    }
    if (t.name.size() > kGgufMaxNameBytes) {
      r.fail_at(t.info_offset_in_file, ErrorCode::TooLarge, field,
                "name of " + std::to_string(t.name.size()) + " bytes exceeds ggml's 63-byte limit");
    }
    if (!names.insert(t.name).second) {
      r.fail_at(t.info_offset_in_file, ErrorCode::DuplicateName, field, "duplicate tensor name");
    }
    const uint64_t dims_at = r.offset();
    const uint32_t n_dims = r.read<uint32_t>(field + " n_dims");
    if (n_dims > kGgufMaxDims) {
      r.fail_at(dims_at, ErrorCode::BadShape, field + " n_dims", std::to_string(n_dims) + " dimensions, at most 4");
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne_at = r.offset();
      const auto ne = r.read<int64_t>(field + " ne");
      if (ne < 0) r.fail_at(ne_at, ErrorCode::BadShape, field + " ne", "negative dimension " + std::to_string(ne));
      t.ne.push_back(static_cast<uint64_t>(ne));
    }
    const uint64_t type_at = r.offset();
    const auto type_id = r.read<int32_t>(field + " type");
    const auto dtype = dtype_from_ggml_id(type_id);
    const bool newer = type_id >= kGgmlTypeCount && type_id < 256;
    if (!dtype && newer && options.allow_unknown_types) {
      t.dtype = DType::U8;
      t.unknown_ggml_type = type_id;
      t.offset_in_data = r.read<uint64_t>(field + " offset");
      out.tensors.push_back(std::move(t));
      continue;
    }
    if (!dtype) {
      r.fail_at(type_at, ErrorCode::BadDType, field + " type",
                newer
                    ? "ggml type " + std::to_string(type_id) + " is newer than this ckpt knows (it reads types up to " + std::to_string(kGgmlTypeCount - 1) + ")"
                    : type_id < 0 || type_id >= 256 ? "invalid ggml type " + std::to_string(type_id) : "retired ggml type " + std::to_string(type_id));
    }
    t.dtype = *dtype;
    try {
      t.n_bytes = gguf_tensor_bytes(t.name, t.ne, t.dtype);
    } catch (const Error& e) {
      r.fail_at(dims_at, e.code(), field, e.detail());
    }
    t.offset_in_data = r.read<uint64_t>(field + " offset");
    out.tensors.push_back(std::move(t));
  }
}

void check_data_section(ByteReader& r, GgufFile& out) {
  const auto data_offset = align_up(r.offset(), out.alignment);
  if (!data_offset) r.fail(ErrorCode::Overflow, "data section", "offset overflows");
  out.data_offset = *data_offset;
  uint64_t expected = 0;
  for (size_t i = 0; i < out.tensors.size(); ++i) {
    auto& t = out.tensors[i];
    if (t.unknown_ggml_type >= 0) {  // its bytes: up to the next tensor's data, or the end of the file
      const uint64_t end = i + 1 < out.tensors.size() ? out.tensors[i + 1].offset_in_data
                                                      : r.size() > out.data_offset ? r.size() - out.data_offset : 0;
      if (t.offset_in_data != expected || end < t.offset_in_data || out.data_offset + end > r.size()) {
        r.fail_at(t.info_offset_in_file, ErrorCode::BadOffset, "tensor '" + t.name + "' offset",
                  "data of an unknown-type tensor does not lie between its neighbours");
      }
      t.n_bytes = end - t.offset_in_data;
      expected = end;
      continue;
    }
    const std::string field = "tensor '" + t.name + "' offset";
    const uint64_t offset_field_at = t.info_offset_in_file + 8 + t.name.size() + 4 + 8 * t.ne.size() + 4;
    if (t.offset_in_data != expected) {
      r.fail_at(offset_field_at, ErrorCode::BadOffset, field,
                "is " + std::to_string(t.offset_in_data) + ", expected " + std::to_string(expected) +
                    " (data must be contiguous, in info order, each blob padded to " + std::to_string(out.alignment) + ")");
    }
    const auto begin = checked_add(out.data_offset, t.offset_in_data);
    const auto end = begin ? checked_add(*begin, t.n_bytes) : std::nullopt;
    if (!end || *end > r.size()) {
      r.fail_at(begin.value_or(out.data_offset), ErrorCode::Truncated, "tensor '" + t.name + "' data",
                "needs " + std::to_string(t.n_bytes) + " bytes at offset " + std::to_string(begin.value_or(0)) +
                    ", file is " + std::to_string(r.size()) + " bytes");
    }
    const auto next = align_up(t.offset_in_data + t.n_bytes, out.alignment);
    if (!next) r.fail_at(offset_field_at, ErrorCode::Overflow, field, "offset overflows");
    expected = *next;
  }
}

}  // namespace

uint64_t gguf_tensor_bytes(const std::string& name, std::span<const uint64_t> ne, DType dtype) {
  const auto& info = dtype_info(dtype);
  auto fail = [&](ErrorCode code, std::string detail) -> uint64_t {
    throw Error(code, "", Error::kNoOffset, "tensor '" + name + "'", std::move(detail));
  };
  if (info.ggml_id < 0) fail(ErrorCode::BadDType, std::string(info.name) + " is not a ggml type");
  // ggml keeps sizes in int64: reject anything that does not fit.
  const auto numel = checked_product(ne);
  if (!numel || *numel > static_cast<uint64_t>(INT64_MAX)) fail(ErrorCode::Overflow, "element count overflows int64");
  const uint64_t ne0 = ne.empty() ? 1 : ne[0];
  if (ne0 % info.block_elems != 0) {
    fail(ErrorCode::BadShape, "ne[0] = " + std::to_string(ne0) + " is not a multiple of the " +
                                  std::string(info.name) + " block size " + std::to_string(info.block_elems));
  }
  const auto bytes = dtype_bytes_for(dtype, *numel);
  if (!bytes || *bytes > static_cast<uint64_t>(INT64_MAX)) fail(ErrorCode::Overflow, "byte size overflows int64");
  return *bytes;
}

const GgufKv* GgufFile::find_kv(std::string_view key) const {
  for (const auto& kv : kvs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

uint64_t GgufFile::u64_or(std::string_view key, uint64_t fallback) const {
  const GgufKv* kv = find_kv(key);
  const auto v = kv ? kv->value.as_u64() : std::nullopt;
  return v.value_or(fallback);
}

std::string GgufFile::architecture() const {
  const GgufKv* kv = find_kv("general.architecture");
  return kv && kv->value.as_string() ? *kv->value.as_string() : std::string();
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

TensorInfo GgufFile::tensor_info(const GgufTensorInfo& t) const {
  TensorInfo info;
  info.name = t.name;
  info.dtype = t.dtype;
  info.shape.assign(t.ne.rbegin(), t.ne.rend());
  info.offset_in_file = data_offset + t.offset_in_data;
  info.n_bytes = t.n_bytes;
  info.unknown_ggml_type = t.unknown_ggml_type;
  return info;
}

GgufFile read_gguf(std::shared_ptr<const MappedFile> file, const GgufReadOptions& options) {
  ByteReader r(file->bytes(), file->path());
  throw_if_lfs_pointer(file->bytes(), file->path());
  GgufFile out;
  out.file = file;
  read_header(r, out);
  const uint64_t n_tensors = read_count(r, "n_tensors", kMinTensorInfoBytes);
  const uint64_t n_kv = read_count(r, "n_kv", kMinKvBytes);
  if (n_kv > kGgufMaxKvCount) {
    r.fail_at(16, ErrorCode::TooLarge, "n_kv", std::to_string(n_kv) + " metadata entries exceed the cap of " + std::to_string(kGgufMaxKvCount));
  }
  // Both sections must fit together, not just each alone.
  if (n_tensors * kMinTensorInfoBytes + n_kv * kMinKvBytes > r.remaining()) {
    r.fail_at(8, ErrorCode::TooLarge, "n_tensors",
              std::to_string(n_tensors) + " tensors and " + std::to_string(n_kv) + " KVs need more than the " +
                  std::to_string(r.remaining()) + " bytes that remain");
  }
  read_kvs(r, out, n_kv);
  read_tensor_infos(r, out, n_tensors, options);
  check_data_section(r, out);
  return out;
}

GgufFile read_gguf(const std::string& path, const GgufReadOptions& options) { return read_gguf(MappedFile::open(path), options); }

}  // namespace ckpt
