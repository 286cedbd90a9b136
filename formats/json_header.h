// Strict JSON parsing for headers read from untrusted files: UTF-8 is validated first (naming the
// byte), nesting is capped, and a key repeated within one object is an error (nlohmann and Python
// would silently keep the last value, which lets two readers see different tensors).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "formats/error.h"

namespace ckpt {

inline constexpr int kMaxJsonDepth = 64;

// Parses `text`, which starts at absolute offset `base_offset` in `file`. Throws Error(BadUtf8,
// BadJson, TooDeep, DuplicateName) with the offset of the offending byte.
nlohmann::ordered_json parse_json_strictly(std::string_view text, const std::string& file, uint64_t base_offset,
                                           std::string_view field);

// Best-effort absolute offset of the object member `key` in `text` (for error messages), or base_offset.
uint64_t locate_json_key(std::string_view text, std::string_view key, uint64_t base_offset, int occurrence = 1);

// Runs `fn`, which interprets parsed JSON: a value of the wrong type read with .value()/.get() becomes
// Error(BadJson) naming `file` and `field` instead of nlohmann's "[json.exception.type_error.302] ...".
template <typename Fn>
auto with_json_errors(const std::string& file, std::string_view field, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (const auto bracket = what.find("] "); bracket != std::string::npos) what = what.substr(bracket + 2);
    throw Error(ErrorCode::BadJson, file, Error::kNoOffset, std::string(field), "unexpected JSON value: " + what);
  }
}

}  // namespace ckpt
