// GGUF writer: validate and plan every offset first, then stream header, KVs, infos and tensor data.
#include <unordered_set>

#include "formats/byte_sink.h"
#include "formats/checked_math.h"
#include "formats/error.h"
#include "formats/gguf.h"

namespace ckpt {

namespace {

[[noreturn]] void invalid(const std::string& sink, const std::string& field, const std::string& detail) {
  throw Error(ErrorCode::InvalidArgument, sink, Error::kNoOffset, field, detail);
}

void write_string(ByteSink& s, std::string_view v) {
  s.write_le<uint64_t>(v.size());
  s.write_text(v);
}

void write_value(ByteSink& s, const GgufValue& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          write_string(s, v);
        } else if constexpr (std::is_same_v<T, GgufArrayBox>) {
          const GgufArray& a = v.get();
          s.write_le<int32_t>(static_cast<int32_t>(a.element_type));
          s.write_le<uint64_t>(a.count);
          if (a.element_type == GgufType::String) {
            for (uint64_t i = 0; i < a.count; ++i) write_string(s, a.string_at(i));
          } else {
            s.write(a.raw);
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          s.write_le<uint8_t>(v ? 1 : 0);
        } else {
          s.write_le<T>(v);
        }
      },
      value.data);
}

void validate_value(const std::string& sink, const GgufKv& kv) {
  if (!kv.value.is_array()) return;
  const auto& a = kv.value.array();
  const std::string field = "kv '" + kv.key + "'";
  if (a.element_type == GgufType::Array) invalid(sink, field, "arrays of arrays are not supported by llama.cpp");
  if (static_cast<uint32_t>(a.element_type) >= kGgufTypeCount) invalid(sink, field, "invalid element type");
  if (a.element_type == GgufType::String ? a.string_ends.size() != a.count
                                         : a.raw.size() != a.count * gguf_type_size(a.element_type)) {
    invalid(sink, field, "array count does not match its elements");
  }
}

uint32_t alignment_from(const std::string& sink, const std::vector<GgufKv>& kvs) {
  for (const auto& kv : kvs) {
    if (kv.key != "general.alignment") continue;
    const auto* a = std::get_if<uint32_t>(&kv.value.data);
    if (!a) invalid(sink, "kv 'general.alignment'", "must be u32");
    if (!is_power_of_two(*a)) invalid(sink, "kv 'general.alignment'", "must be a non-zero power of two");
    return *a;
  }
  return kGgufDefaultAlignment;
}

}  // namespace

void write_gguf(ByteSink& sink, const std::vector<GgufKv>& kvs, const std::vector<GgufTensorToWrite>& tensors,
                uint32_t version) {
  const std::string& where = sink.name();
  if (version != 2 && version != 3) invalid(where, "version", "only GGUF v2 and v3 can be written");
  std::unordered_set<std::string_view> keys;
  for (const auto& kv : kvs) {
    if (kv.key.empty()) invalid(where, "kv", "empty key");
    if (!keys.insert(kv.key).second) invalid(where, "kv '" + kv.key + "'", "duplicate key");
    validate_value(where, kv);
  }
  const uint32_t alignment = alignment_from(where, kvs);
  // Plan every tensor's size and offset before the first byte is written.
  std::unordered_set<std::string_view> names;
  std::vector<uint64_t> n_bytes;
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string field = "tensor '" + t.name + "'";
    if (t.name.empty()) invalid(where, field, "empty tensor name");
    if (t.name.size() > kGgufMaxNameBytes) invalid(where, field, "name longer than ggml's 63-byte limit");
    if (!names.insert(t.name).second) invalid(where, field, "duplicate tensor name");
    if (t.ne.size() > kGgufMaxDims) invalid(where, field, "more than 4 dimensions");
    n_bytes.push_back(gguf_tensor_bytes(t.name, t.ne, t.dtype));
    offsets.push_back(offset);
    const auto next = align_up(offset + n_bytes.back(), alignment);
    if (!next) invalid(where, field, "offsets overflow");
    offset = *next;
  }

  sink.write_text("GGUF");
  sink.write_le<uint32_t>(version);
  sink.write_le<int64_t>(static_cast<int64_t>(tensors.size()));
  sink.write_le<int64_t>(static_cast<int64_t>(kvs.size()));
  for (const auto& kv : kvs) {
    write_string(sink, kv.key);
    sink.write_le<int32_t>(static_cast<int32_t>(kv.value.type()));
    write_value(sink, kv.value);
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    write_string(sink, t.name);
    sink.write_le<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) sink.write_le<int64_t>(static_cast<int64_t>(d));
    sink.write_le<int32_t>(dtype_info(t.dtype).ggml_id);
    sink.write_le<uint64_t>(offsets[i]);
  }
  const uint64_t data_offset = *align_up(sink.position(), alignment);
  sink.write_zeros(data_offset - sink.position());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t start = sink.position();
    tensors[i].write_data(sink);
    const uint64_t written = sink.position() - start;
    if (written != n_bytes[i]) {
      throw Error(ErrorCode::SizeMismatch, where, start, "tensor '" + tensors[i].name + "'",
                  "data writer produced " + std::to_string(written) + " bytes, expected " + std::to_string(n_bytes[i]));
    }
    sink.write_zeros(*align_up(written, alignment) - written);
  }
}

void write_gguf(const std::string& path, const std::vector<GgufKv>& kvs, const std::vector<GgufTensorToWrite>& tensors,
                uint32_t version) {
  AtomicFileSink sink(path);
  write_gguf(sink, kvs, tensors, version);
  sink.commit();
}

}  // namespace ckpt
