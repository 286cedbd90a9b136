#include "formats/error.h"

#include <fmt/format.h>

#include "formats/utf8.h"

namespace ckpt {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::Io: return "io";
    case ErrorCode::Truncated: return "truncated";
    case ErrorCode::BadMagic: return "bad-magic";
    case ErrorCode::BadVersion: return "bad-version";
    case ErrorCode::LfsPointer: return "lfs-pointer";
    case ErrorCode::TooLarge: return "too-large";
    case ErrorCode::Overflow: return "overflow";
    case ErrorCode::BadUtf8: return "bad-utf8";
    case ErrorCode::BadJson: return "bad-json";
    case ErrorCode::TooDeep: return "too-deep";
    case ErrorCode::DuplicateName: return "duplicate-name";
    case ErrorCode::EmptyName: return "empty-name";
    case ErrorCode::BadDType: return "bad-dtype";
    case ErrorCode::BadShape: return "bad-shape";
    case ErrorCode::BadOffset: return "bad-offset";
    case ErrorCode::SizeMismatch: return "size-mismatch";
    case ErrorCode::IncompleteBuffer: return "incomplete-buffer";
    case ErrorCode::BadValueType: return "bad-value-type";
    case ErrorCode::BadAlignment: return "bad-alignment";
    case ErrorCode::NotFound: return "not-found";
    case ErrorCode::BadPath: return "bad-path";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::BadChecksum: return "bad-checksum";
    case ErrorCode::BadValue: return "bad-value";
  }
  return "unknown";
}

static std::string render(const std::string& file, uint64_t offset, const std::string& field,
                          const std::string& detail) {
  std::string out = escape_for_display(file);
  auto part = [&out](const std::string& p) { out += (out.empty() ? "" : ": ") + p; };
  if (offset != Error::kNoOffset) part(fmt::format("offset {} (0x{:x})", offset, offset));
  if (!field.empty()) part(escape_for_display(field));
  part(escape_for_display(detail));
  return out;
}

Error::Error(ErrorCode code, std::string file, uint64_t offset, std::string field, std::string detail)
    : std::runtime_error(render(file, offset, field, detail)),
      code_(code),
      file_(std::move(file)),
      offset_(offset),
      field_(std::move(field)),
      detail_(std::move(detail)) {}

std::string escape_for_display(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const size_t n = utf8_sequence_length(text.substr(i));
      if (n > 0) {
        out.append(text.substr(i, n));
        i += n;
        continue;
      }
      out += fmt::format("\\x{:02x}", c);
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

}  // namespace ckpt
