// GGUF metadata values: the 13 value types of `enum gguf_type` (UINT8=0 ... FLOAT64=12).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ckpt {

enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};
inline constexpr uint32_t kGgufTypeCount = 13;

std::string_view gguf_type_name(GgufType t);  // "u8", "str", "arr", ... as ggml names them
// Size of one element of a fixed-size type; 0 for String and Array.
size_t gguf_type_size(GgufType t);

// An array's elements. Fixed-size elements stay as their little-endian bytes (so a 150k-entry score
// array costs its file size, not a variant per entry); strings sit back to back in one buffer with
// their end offsets, so a vocabulary costs about its bytes in the file (a std::string per entry cost
// 32 bytes each, four times an empty string's 8 in the file).
struct GgufArray {
  GgufType element_type = GgufType::U8;
  uint64_t count = 0;
  std::vector<std::byte> raw;         // count * gguf_type_size(element_type) bytes
  std::string string_bytes;           // when element_type == String: the strings, concatenated
  std::vector<uint64_t> string_ends;  // end of string i in string_bytes

  template <typename T>
  T at(uint64_t i) const {
    T v;
    __builtin_memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
    return v;
  }
  std::string_view string_at(uint64_t i) const {
    const uint64_t begin = i == 0 ? 0 : string_ends[i - 1];
    return std::string_view(string_bytes).substr(begin, string_ends[i] - begin);
  }
  std::vector<std::string> string_list() const;
  void push_string(std::string_view s) {
    string_bytes.append(s);
    string_ends.push_back(string_bytes.size());
  }
  bool operator==(const GgufArray&) const = default;
};

// Arrays live behind a shared pointer (immutable once built) so a scalar KV costs ~80 bytes, not
// ~150: a file of a million one-byte KVs must not cost ten times its size in memory.
class GgufArrayBox {
 public:
  GgufArrayBox(GgufArray a) : p_(std::make_shared<const GgufArray>(std::move(a))) {}  // NOLINT: implicit by design
  const GgufArray& get() const { return *p_; }
  bool operator==(const GgufArrayBox& o) const { return *p_ == *o.p_; }

 private:
  std::shared_ptr<const GgufArray> p_;
};

// Variant alternative index == GgufType id, so type() is index().
using GgufVariant = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                                 GgufArrayBox, uint64_t, int64_t, double>;
static_assert(std::variant_size_v<GgufVariant> == kGgufTypeCount);

struct GgufValue {
  GgufVariant data;

  GgufType type() const { return static_cast<GgufType>(data.index()); }
  bool is_array() const { return type() == GgufType::Array; }
  const GgufArray& array() const { return std::get<GgufArrayBox>(data).get(); }
  const std::string* as_string() const { return std::get_if<std::string>(&data); }
  // Any integer type that fits in the result; nullopt otherwise.
  std::optional<uint64_t> as_u64() const;
  std::optional<int64_t> as_i64() const;
  std::optional<double> as_f64() const;  // any numeric type
  bool operator==(const GgufValue&) const = default;

  static GgufValue string_array(std::vector<std::string> values);
  template <typename T>
  static GgufValue numeric_array(GgufType element_type, std::span<const T> values) {
    GgufArray a;
    a.element_type = element_type;
    a.count = values.size();
    a.raw.resize(values.size_bytes());
    if (!values.empty()) __builtin_memcpy(a.raw.data(), values.data(), values.size_bytes());
    return GgufValue{GgufArrayBox(std::move(a))};
  }
};

// One line describing a value for humans; arrays longer than `max_items` are summarized.
std::string gguf_value_to_display(const GgufValue& value, size_t max_items);

}  // namespace ckpt
