// ckpt's one error type. Every failure while reading or writing a file names the file, the byte
// offset where the problem sits, and the field being read, so a user can open a hex editor at the
// right place. Tests assert the ErrorCode, never the message text.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ckpt {

enum class ErrorCode {
  Io,                  // open/read/write/rename failed (errno text in detail)
  Truncated,           // a field runs past the end of the file
  BadMagic,            // not the format we were asked to read
  BadVersion,          // unsupported format version
  LfsPointer,          // a Git LFS pointer file instead of the real content
  TooLarge,            // a count or length exceeds a named cap or the bytes that remain
  Overflow,            // shape/size arithmetic overflows 64 bits
  BadUtf8,             // text that must be UTF-8 is not
  BadJson,             // JSON syntax error or wrong JSON type for a field
  TooDeep,             // nesting beyond the cap
  DuplicateName,       // a tensor or key appears twice
  EmptyName,           // empty key or tensor name
  BadDType,            // unknown dtype string or type id
  BadShape,            // rank/dimension/block-size rule broken
  BadOffset,           // tensor data not where the format requires (gap, overlap, misaligned)
  SizeMismatch,        // byte size disagrees with shape x dtype
  IncompleteBuffer,    // data section not exactly covered (trailing bytes, short file)
  BadValueType,        // GGUF metadata type id invalid or wrong type for a known key
  BadAlignment,        // alignment not a non-zero power of two
  NotFound,            // a referenced tensor/file/key does not exist
  BadPath,             // a path from a file tries to leave its directory
  Unsupported,         // valid input we deliberately do not handle
  InvalidArgument,     // bad option or API misuse
  BadChecksum,         // a CRC32 or SHA-256 disagrees with the bytes it covers
  BadValue,            // a value the format forbids (non-finite statistics, a missing required key)
};

std::string_view error_code_name(ErrorCode code);

// Thrown by every reader and writer. `offset` is the absolute byte offset in `file`, or
// kNoOffset when the error is not tied to a position (e.g. a rename failed).
class Error : public std::runtime_error {
 public:
  static constexpr uint64_t kNoOffset = UINT64_MAX;

  Error(ErrorCode code, std::string file, uint64_t offset, std::string field, std::string detail);

  ErrorCode code() const { return code_; }
  const std::string& file() const { return file_; }
  uint64_t offset() const { return offset_; }
  const std::string& field() const { return field_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorCode code_;
  std::string file_;
  uint64_t offset_;
  std::string field_;
  std::string detail_;
};

// Escapes control characters, backslashes and invalid UTF-8 so that names read from hostile files
// cannot move the cursor or recolour a terminal when printed ("\x1b" -> "\\x1b").
std::string escape_for_display(std::string_view text);

}  // namespace ckpt
