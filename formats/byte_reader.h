// A bounded little-endian cursor over mapped bytes. Every read checks the bytes that remain first,
// so no length read from a file can move the cursor past the end; errors carry the absolute offset
// and the field being read.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "formats/error.h"

namespace ckpt {

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, std::string file) : bytes_(bytes), file_(std::move(file)) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  uint64_t size() const { return bytes_.size(); }
  const std::string& file() const { return file_; }

  template <typename T>
  T read(std::string_view field) {
    static_assert(std::is_trivially_copyable_v<T>);
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));  // unaligned-safe
    pos_ += sizeof(T);
    return value;
  }

  // A view of the next `n` bytes; fails without moving if fewer remain.
  std::span<const std::byte> read_bytes(uint64_t n, std::string_view field) {
    require(n, field);
    auto out = bytes_.subspan(pos_, n);
    pos_ += n;
    return out;
  }

  std::string_view read_chars(uint64_t n, std::string_view field) {
    auto b = read_bytes(n, field);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }

  void skip(uint64_t n, std::string_view field) {
    require(n, field);
    pos_ += n;
  }

  void seek(uint64_t pos, std::string_view field) {
    if (pos > bytes_.size()) fail(ErrorCode::Truncated, field, "position past end of file");
    pos_ = pos;
  }

  [[noreturn]] void fail(ErrorCode code, std::string_view field, std::string detail) const {
    throw Error(code, file_, pos_, std::string(field), std::move(detail));
  }
  [[noreturn]] void fail_at(uint64_t offset, ErrorCode code, std::string_view field, std::string detail) const {
    throw Error(code, file_, offset, std::string(field), std::move(detail));
  }

 private:
  void require(uint64_t n, std::string_view field) const {
    if (n > remaining()) {
      fail(ErrorCode::Truncated, field,
           "needs " + std::to_string(n) + " bytes, only " + std::to_string(remaining()) + " remain");
    }
  }

  std::span<const std::byte> bytes_;
  std::string file_;
  uint64_t pos_ = 0;
};

}  // namespace ckpt
