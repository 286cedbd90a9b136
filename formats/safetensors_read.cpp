// safetensors reader: header parsing and the reference validation rules (see safetensors.h).
#include <algorithm>
#include <unordered_set>

#include "formats/byte_reader.h"
#include "formats/checked_math.h"
#include "formats/json_header.h"
#include "formats/lfs_pointer.h"
#include "formats/safetensors.h"

namespace ckpt {

namespace {

struct Context {
  const std::string& file;
  std::string_view header;
  uint64_t header_offset;  // 8

  uint64_t at_key(std::string_view key) const { return locate_json_key(header, key, header_offset); }
  [[noreturn]] void fail(ErrorCode code, std::string_view key, std::string field, std::string detail) const {
    throw Error(code, file, at_key(key), std::move(field), std::move(detail));
  }
};

uint64_t require_unsigned(const nlohmann::ordered_json& v, const Context& ctx, std::string_view name,
                          const std::string& field) {
  if (!v.is_number_unsigned()) {
    // Non-negative integers parse as unsigned; anything else (negative, fractional, > 2^64-1) is refused.
    ctx.fail(ErrorCode::BadJson, name, field, "expected a non-negative integer, got " + v.dump());
  }
  return v.get<uint64_t>();
}

TensorInfo parse_tensor_entry(const std::string& name, const nlohmann::ordered_json& entry, const Context& ctx) {
  const std::string where = "tensor '" + name + "'";
  if (name.empty()) ctx.fail(ErrorCode::EmptyName, name, where, "empty tensor name");
  if (!entry.is_object()) ctx.fail(ErrorCode::BadJson, name, where, "entry is not an object");
  const auto dtype_it = entry.find("dtype");
  const auto shape_it = entry.find("shape");
  const auto offsets_it = entry.find("data_offsets");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    ctx.fail(ErrorCode::BadJson, name, where + " dtype", "missing or not a string");
  }
  if (shape_it == entry.end() || !shape_it->is_array()) {
    ctx.fail(ErrorCode::BadJson, name, where + " shape", "missing or not an array");
  }
  if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    ctx.fail(ErrorCode::BadJson, name, where + " data_offsets", "missing or not an array of two integers");
  }
  TensorInfo info;
  info.name = name;
  const auto& dtype_name_str = dtype_it->get_ref<const std::string&>();
  const auto dtype = dtype_from_safetensors_name(dtype_name_str);
  if (!dtype) ctx.fail(ErrorCode::BadDType, name, where + " dtype", "unknown dtype '" + dtype_name_str + "'");
  info.dtype = *dtype;
  info.shape.reserve(shape_it->size());
  for (const auto& dim : *shape_it) info.shape.push_back(require_unsigned(dim, ctx, name, where + " shape"));
  const uint64_t begin = require_unsigned((*offsets_it)[0], ctx, name, where + " data_offsets");
  const uint64_t end = require_unsigned((*offsets_it)[1], ctx, name, where + " data_offsets");
  if (end < begin) {
    ctx.fail(ErrorCode::BadOffset, name, where + " data_offsets",
             "end " + std::to_string(end) + " is before begin " + std::to_string(begin));
  }
  const auto numel = shape_numel(info.shape);
  if (!numel) ctx.fail(ErrorCode::Overflow, name, where + " shape", "element count overflows 64 bits");
  const auto& dinfo = dtype_info(info.dtype);
  if (*numel % dinfo.block_elems != 0) {
    ctx.fail(ErrorCode::BadShape, name, where + " shape",
             std::to_string(*numel) + " elements of " + std::string(dinfo.name) + " do not fill whole bytes");
  }
  const auto n_bytes = dtype_bytes_for(info.dtype, *numel);
  if (!n_bytes) ctx.fail(ErrorCode::Overflow, name, where + " shape", "byte size overflows 64 bits");
  if (end - begin != *n_bytes) {
    ctx.fail(ErrorCode::SizeMismatch, name, where + " data_offsets",
             "holds " + std::to_string(end - begin) + " bytes but shape " + shape_to_string(info.shape) + " of " +
                 std::string(dinfo.name) + " needs " + std::to_string(*n_bytes));
  }
  info.offset_in_file = begin;  // relative for now; made absolute once the layout is validated
  info.n_bytes = *n_bytes;
  return info;
}

Metadata parse_metadata(const nlohmann::ordered_json& value, const Context& ctx) {
  Metadata metadata;
  if (value.is_null()) return metadata;
  if (!value.is_object()) ctx.fail(ErrorCode::BadJson, "__metadata__", "__metadata__", "is not an object");
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string()) {
      ctx.fail(ErrorCode::BadJson, key, "__metadata__ '" + key + "'", "value is not a string: " + v.dump());
    }
    metadata.emplace_back(key, v.get<std::string>());
  }
  return metadata;
}

}  // namespace

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsFile read_safetensors(std::shared_ptr<const MappedFile> file) {
  const std::string& path = file->path();
  ByteReader reader(file->bytes(), path);
  throw_if_lfs_pointer(file->bytes(), path);
  if (reader.size() < 8) reader.fail(ErrorCode::Truncated, "header length", "file is shorter than the 8-byte header length");
  const uint64_t n = reader.read<uint64_t>("header length");
  if (n > kSafetensorsMaxHeaderBytes) {
    reader.fail_at(0, ErrorCode::TooLarge, "header length",
                   std::to_string(n) + " exceeds the 100,000,000-byte cap of the reference reader");
  }
  if (n > reader.remaining()) {
    reader.fail_at(0, ErrorCode::Truncated, "header length",
                   "header of " + std::to_string(n) + " bytes but only " + std::to_string(reader.remaining()) +
                       " bytes follow");
  }
  const std::string_view header = reader.read_chars(n, "header");
  const auto json = parse_json_strictly(header, path, 8, "header");
  const Context ctx{path, header, 8};
  if (!json.is_object()) throw Error(ErrorCode::BadJson, path, 8, "header", "top level is not a JSON object");

  SafetensorsFile out;
  out.file = file;
  out.header_bytes = n;
  for (const auto& [key, value] : json.items()) {
    if (key == "__metadata__") {
      out.metadata = parse_metadata(value, ctx);
    } else {
      out.tensors.push_back(parse_tensor_entry(key, value, ctx));
    }
  }
  // The reference sorts by offsets and demands exact contiguity: no gaps, no overlaps, no holes.
  std::stable_sort(out.tensors.begin(), out.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset_in_file < b.offset_in_file ||
           (a.offset_in_file == b.offset_in_file && a.n_bytes < b.n_bytes);
  });
  uint64_t expected_begin = 0;
  for (auto& t : out.tensors) {
    if (t.offset_in_file != expected_begin) {
      ctx.fail(ErrorCode::BadOffset, t.name, "tensor '" + t.name + "' data_offsets",
               "begins at " + std::to_string(t.offset_in_file) + " but the previous tensor ends at " +
                   std::to_string(expected_begin) + (t.offset_in_file < expected_begin ? " (overlap)" : " (gap)"));
    }
    expected_begin = t.offset_in_file + t.n_bytes;  // n_bytes == end - begin, no overflow
  }
  const uint64_t data_bytes = reader.remaining();
  if (expected_begin != data_bytes) {
    reader.fail_at(8 + n + std::min(expected_begin, data_bytes), ErrorCode::IncompleteBuffer, "data",
                   "tensors cover " + std::to_string(expected_begin) + " bytes but the data section holds " +
                       std::to_string(data_bytes) +
                       (expected_begin < data_bytes ? " (trailing bytes)" : " (file truncated)"));
  }
  for (auto& t : out.tensors) t.offset_in_file += 8 + n;
  return out;
}

SafetensorsFile read_safetensors(const std::string& path) { return read_safetensors(MappedFile::open(path)); }

}  // namespace ckpt
