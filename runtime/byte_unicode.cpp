#include "runtime/byte_unicode.h"

#include <array>

#include "runtime/unicode.h"

namespace ckpt::runtime {
namespace {

constexpr bool stands_for_itself(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) t[b] = stands_for_itself(b) ? static_cast<uint32_t>(b) : next++;
  return t;
}
constexpr std::array<uint32_t, 256> kTable = make_table();

}  // namespace

uint32_t byte_to_unicode(uint8_t b) { return kTable[b]; }

std::string byte_to_unicode_utf8(uint8_t b) {
  std::string s;
  append_utf8(s, kTable[b]);
  return s;
}

std::string bytes_to_unicode(std::string_view bytes) {
  std::string s;
  for (char c : bytes) append_utf8(s, kTable[static_cast<uint8_t>(c)]);
  return s;
}

std::string unicode_to_bytes(std::string_view token_text) {
  const Codepoints cps = decode_utf8(token_text);
  std::string out;
  for (size_t i = 0; i < cps.cps.size(); ++i) {
    const uint32_t cp = cps.cps[i];
    if (cp < 256 && stands_for_itself(static_cast<int>(cp))) {
      out += static_cast<char>(cp);
    } else if (cp >= 256 && cp < 256 + 68) {
      // the (cp - 256)-th byte that does not stand for itself
      uint32_t k = cp - 256;
      for (int b = 0; b < 256; ++b) {
        if (!stands_for_itself(b) && k-- == 0) {
          out += static_cast<char>(b);
          break;
        }
      }
    } else {
      out.append(token_text.substr(cps.byte_offsets[i], cps.byte_offsets[i + 1] - cps.byte_offsets[i]));
    }
  }
  return out;
}

}  // namespace ckpt::runtime
