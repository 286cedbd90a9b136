// Overflow-checked size arithmetic. Every size, count and offset that comes from a file goes through
// these before it is used; a bare `*` on such a number is a bug.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace ckpt {

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
  uint64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Product of all values, or nullopt on overflow. The empty product is 1 (a scalar has one element).
inline std::optional<uint64_t> checked_product(std::span<const uint64_t> values) {
  uint64_t r = 1;
  for (uint64_t v : values) {
    if (__builtin_mul_overflow(r, v, &r)) return std::nullopt;
  }
  return r;
}

inline bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Rounds `v` up to a multiple of `alignment` (a power of two), or nullopt on overflow.
inline std::optional<uint64_t> align_up(uint64_t v, uint64_t alignment) {
  auto r = checked_add(v, alignment - 1);
  if (!r) return std::nullopt;
  return *r & ~(alignment - 1);
}

}  // namespace ckpt
