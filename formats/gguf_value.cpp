#include "formats/gguf_value.h"

#include <fmt/format.h>

#include "formats/error.h"

namespace ckpt {

std::string_view gguf_type_name(GgufType t) {
  static constexpr std::string_view kNames[kGgufTypeCount] = {"u8",  "i8",  "u16", "i16", "u32", "i32", "f32",
                                                              "bool", "str", "arr", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return i < kGgufTypeCount ? kNames[i] : "?";
}

size_t gguf_type_size(GgufType t) {
  static constexpr size_t kSizes[kGgufTypeCount] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  const auto i = static_cast<uint32_t>(t);
  return i < kGgufTypeCount ? kSizes[i] : 0;
}

std::optional<uint64_t> GgufValue::as_u64() const {
  return std::visit(
      [](const auto& v) -> std::optional<uint64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>) {
            if (v < 0) return std::nullopt;
          }
          return static_cast<uint64_t>(v);
        }
        return std::nullopt;
      },
      data);
}

std::optional<int64_t> GgufValue::as_i64() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>) {
            if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
          }
          return static_cast<int64_t>(v);
        }
        return std::nullopt;
      },
      data);
}

std::optional<double> GgufValue::as_f64() const {
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) return static_cast<double>(v);
        return std::nullopt;
      },
      data);
}

GgufValue GgufValue::string_array(std::vector<std::string> values) {
  GgufArray a;
  a.element_type = GgufType::String;
  a.count = values.size();
  a.string_ends.reserve(values.size());
  for (const auto& v : values) a.push_string(v);
  return GgufValue{GgufArrayBox(std::move(a))};
}

std::vector<std::string> GgufArray::string_list() const {
  std::vector<std::string> out;
  out.reserve(string_ends.size());
  for (uint64_t i = 0; i < string_ends.size(); ++i) out.emplace_back(string_at(i));
  return out;
}

namespace {

std::string quote(std::string_view s) { return "\"" + escape_for_display(s) + "\""; }

std::string element_to_display(const GgufArray& a, uint64_t i) {
  switch (a.element_type) {
    case GgufType::U8: return std::to_string(a.at<uint8_t>(i));
    case GgufType::I8: return std::to_string(a.at<int8_t>(i));
    case GgufType::U16: return std::to_string(a.at<uint16_t>(i));
    case GgufType::I16: return std::to_string(a.at<int16_t>(i));
    case GgufType::U32: return std::to_string(a.at<uint32_t>(i));
    case GgufType::I32: return std::to_string(a.at<int32_t>(i));
    case GgufType::F32: return fmt::format("{}", a.at<float>(i));
    case GgufType::Bool: return a.at<uint8_t>(i) ? "true" : "false";
    case GgufType::String: return quote(a.string_at(i));
    case GgufType::U64: return std::to_string(a.at<uint64_t>(i));
    case GgufType::I64: return std::to_string(a.at<int64_t>(i));
    case GgufType::F64: return fmt::format("{}", a.at<double>(i));
    case GgufType::Array: break;
  }
  return "?";
}

}  // namespace

std::string gguf_value_to_display(const GgufValue& value, size_t max_items) {
  return std::visit(
      [&](const auto& box) -> std::string {
        using T = std::decay_t<decltype(box)>;
        const auto& v = box;
        if constexpr (std::is_same_v<T, std::string>) {
          return quote(v);
        } else if constexpr (std::is_same_v<T, GgufArrayBox>) {
          const GgufArray& v = box.get();
          std::string out = "[";
          const uint64_t shown = std::min<uint64_t>(v.count, max_items);
          for (uint64_t i = 0; i < shown; ++i) {
            if (i) out += ", ";
            out += element_to_display(v, i);
          }
          if (shown < v.count) out += fmt::format(", ... ({} {} in all)", v.count, gguf_type_name(v.element_type));
          return out + "]";
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_floating_point_v<T>) {
          return fmt::format("{}", v);
        } else {
          return std::to_string(v);
        }
      },
      value.data);
}

}  // namespace ckpt
