// Strict JSON parsing for headers read from untrusted files: UTF-8 is validated first (naming the
// byte), nesting is capped, and a key repeated within one object is an error (nlohmann and Python
// would silently keep the last value, which lets two readers see different tensors).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ckpt {

inline constexpr int kMaxJsonDepth = 64;

// Parses `text`, which starts at absolute offset `base_offset` in `file`. Throws Error(BadUtf8,
// BadJson, TooDeep, DuplicateName) with the offset of the offending byte.
nlohmann::ordered_json parse_json_strictly(std::string_view text, const std::string& file, uint64_t base_offset,
                                           std::string_view field);

// Best-effort absolute offset of the object member `key` in `text` (for error messages), or base_offset.
uint64_t locate_json_key(std::string_view text, std::string_view key, uint64_t base_offset, int occurrence = 1);

}  // namespace ckpt
