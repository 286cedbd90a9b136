#include "formats/json_header.h"

#include "formats/error.h"
#include "formats/utf8.h"

#include <unordered_set>
#include <vector>

namespace ckpt {

namespace {
struct DuplicateKey {
  std::string key;
  int occurrence;
};
struct NestingTooDeep {};
}  // namespace

uint64_t locate_json_key(std::string_view text, std::string_view key, uint64_t base_offset, int occurrence) {
  const std::string needle = nlohmann::json(std::string(key)).dump();
  size_t pos = 0;
  for (int seen = 0;; ++pos) {
    pos = text.find(needle, pos);
    if (pos == std::string_view::npos) return base_offset;
    size_t after = pos + needle.size();
    while (after < text.size() && (text[after] == ' ' || text[after] == '\t' || text[after] == '\n' || text[after] == '\r')) {
      ++after;
    }
    if (after < text.size() && text[after] == ':' && ++seen == occurrence) return base_offset + pos;
  }
}

nlohmann::ordered_json parse_json_strictly(std::string_view text, const std::string& file, uint64_t base_offset,
                                           std::string_view field) {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw Error(ErrorCode::BadUtf8, file, base_offset + bad, std::string(field), "invalid UTF-8 byte sequence");
  }
  // One set of seen keys per open object; arrays push an empty marker so pops stay balanced.
  std::vector<std::unordered_set<std::string>> open_objects;
  std::unordered_map<std::string, int> key_counts;  // for locating the repeated key
  using Event = nlohmann::ordered_json::parse_event_t;
  auto callback = [&](int depth, Event event, nlohmann::ordered_json& parsed) {
    if (depth > kMaxJsonDepth) throw NestingTooDeep{};
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        open_objects.emplace_back();
        break;
      case Event::object_end:
      case Event::array_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Event::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        const int n = ++key_counts[key];
        if (!open_objects.back().insert(key).second) throw DuplicateKey{key, n};
        break;
      }
      case Event::value:
        break;
    }
    return true;
  };
  try {
    return nlohmann::ordered_json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                                         /*ignore_comments=*/false);
  } catch (const nlohmann::json::parse_error& e) {
    const uint64_t at = e.byte == 0 ? 0 : e.byte - 1;
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] parse error at line 1, column 2: "; keep the reason.
    if (const auto colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
    throw Error(ErrorCode::BadJson, file, base_offset + std::min<uint64_t>(at, text.size()), std::string(field),
                "invalid JSON: " + what);
  } catch (const nlohmann::json::exception& e) {
    // out_of_range 406: a number like 1e99999 overflows a double (found by fuzz_safetensors).
    std::string what = e.what();
    if (const auto bracket = what.find("] "); bracket != std::string::npos) what = what.substr(bracket + 2);
    throw Error(ErrorCode::BadJson, file, base_offset, std::string(field), "invalid JSON: " + what);
  } catch (const NestingTooDeep&) {
    throw Error(ErrorCode::TooDeep, file, base_offset, std::string(field),
                "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  } catch (const DuplicateKey& d) {
    throw Error(ErrorCode::DuplicateName, file, locate_json_key(text, d.key, base_offset, d.occurrence),
                std::string(field), "duplicate key '" + d.key + "'");
  }
}

}  // namespace ckpt
