// safetensors writer: reference ordering, compact JSON header padded to 8, streamed tensor data.
#include <algorithm>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/checked_math.h"
#include "formats/error.h"
#include "formats/safetensors.h"

namespace ckpt {

namespace {
[[noreturn]] void invalid(const std::string& what, const std::string& detail) {
  throw Error(ErrorCode::InvalidArgument, "<safetensors writer>", Error::kNoOffset, what, detail);
}
}  // namespace

SafetensorsPlan plan_safetensors(std::vector<TensorToWrite> tensors, const Metadata& metadata) {
  std::unordered_set<std::string_view> names;
  for (const auto& t : tensors) {
    if (t.name.empty()) invalid("tensor name", "empty tensor name");
    if (t.name == "__metadata__") invalid("tensor name", "'__metadata__' is reserved");
    if (!names.insert(t.name).second) invalid("tensor '" + t.name + "'", "duplicate tensor name");
    if (dtype_info(t.dtype).safetensors_name.empty()) {
      invalid("tensor '" + t.name + "'", "dtype " + std::string(dtype_name(t.dtype)) + " has no safetensors encoding");
    }
  }
  // Largest alignment first, then name: every tensor starts naturally aligned after the 8-aligned header.
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
    const int ra = dtype_info(a.dtype).safetensors_rank;
    const int rb = dtype_info(b.dtype).safetensors_rank;
    return ra != rb ? ra > rb : a.name < b.name;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& meta = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
  }
  SafetensorsPlan plan;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const auto numel = shape_numel(t.shape);
    const auto n_bytes = numel ? dtype_bytes_for(t.dtype, *numel) : std::nullopt;
    if (!n_bytes) invalid("tensor '" + t.name + "' shape", "size overflows or does not fill whole bytes");
    const auto end = checked_add(offset, *n_bytes);
    if (!end) invalid("tensor '" + t.name + "'", "offsets overflow 64 bits");
    auto& entry = header[t.name];
    entry["dtype"] = dtype_info(t.dtype).safetensors_name;
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, *end};
    plan.n_bytes.push_back(*n_bytes);
    offset = *end;
  }
  plan.header = header.dump();
  plan.header.append((8 - plan.header.size() % 8) % 8, ' ');
  if (plan.header.size() > kSafetensorsMaxHeaderBytes) {
    invalid("header", "header of " + std::to_string(plan.header.size()) + " bytes exceeds the 100,000,000-byte cap");
  }
  plan.tensors = std::move(tensors);
  return plan;
}

void write_safetensors(ByteSink& sink, std::vector<TensorToWrite> tensors, const Metadata& metadata) {
  SafetensorsPlan plan = plan_safetensors(std::move(tensors), metadata);
  sink.write_le<uint64_t>(plan.header.size());
  sink.write_text(plan.header);
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const uint64_t start = sink.position();
    plan.tensors[i].write_data(sink);
    if (sink.position() - start != plan.n_bytes[i]) {
      throw Error(ErrorCode::SizeMismatch, sink.name(), start, "tensor '" + plan.tensors[i].name + "'",
                  "data writer produced " + std::to_string(sink.position() - start) + " bytes, expected " +
                      std::to_string(plan.n_bytes[i]));
    }
  }
}

void write_safetensors(const std::string& path, std::vector<TensorToWrite> tensors, const Metadata& metadata) {
  AtomicFileSink sink(path);
  write_safetensors(sink, std::move(tensors), metadata);
  sink.commit();
}

}  // namespace ckpt
