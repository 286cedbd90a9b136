#include "formats/json_header.h"

#include "formats/error.h"
#include "formats/utf8.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ckpt {

namespace {

using Json = nlohmann::ordered_json;

struct DuplicateKey {
  std::string key;
  int occurrence;
};
struct NestingTooDeep {};
struct SyntaxError {
  uint64_t position;
  std::string what;
};

// Builds an ordered_json document from SAX events. nlohmann's own DOM builder inserts object members
// through ordered_map::operator[], a linear search per key: a 150k-entry vocabulary took 27 s and a
// 9.6 MB safetensors header 68 s. Duplicates are caught here with one hash set per open object, so
// members can be appended to the underlying vector directly and parsing stays linear.
struct DuplicateSomewhere {};

class StrictBuilder {
 public:
  // Fast mode sorts each finished object's keys to find a repeat (no per-key hashing or copies); a
  // repeat throws DuplicateSomewhere and the text is parsed again in locating mode, which counts every
  // key so the error can point at the repeated one.
  StrictBuilder(Json& root, bool locating) : root_(root), locating_(locating) {}

  bool null() { return put(Json(nullptr)); }
  bool boolean(bool v) { return put(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return put(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return put(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return put(Json(v)); }
  bool string(Json::string_t& v) { return put(Json(std::move(v))); }
  bool binary(Json::binary_t&) { return put(Json()); }  // JSON text has no binary values
  bool start_object(std::size_t) {
    Json* node = open(Json::object());
    stack_.push_back({node, {}, true});
    return true;
  }
  bool key(Json::string_t& k) {
    if (locating_) {
      Frame& f = stack_.back();
      const int n = ++key_counts_[k];
      if (!f.keys.insert(k).second) throw DuplicateKey{k, n};
    }
    pending_key_ = std::move(k);
    return true;
  }
  bool end_object() {
    if (!locating_) {
      const auto& members = *stack_.back().node->get_ptr<Json::object_t*>();
      if (members.size() > 1) {
        std::vector<std::string_view> keys;
        keys.reserve(members.size());
        for (const auto& m : members) keys.push_back(m.first);
        std::sort(keys.begin(), keys.end());
        if (std::adjacent_find(keys.begin(), keys.end()) != keys.end()) throw DuplicateSomewhere{};
      }
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    Json* node = open(Json::array());
    stack_.push_back({node, {}, false});
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    std::string what = e.what();
    // nlohmann prefixes "[json.exception.parse_error.101] parse error at line 1, column 2: "; keep the reason.
    if (const auto colon = what.find(": "); colon != std::string::npos) {
      what = what.substr(colon + 2);
    } else if (const auto bracket = what.find("] "); bracket != std::string::npos) {
      what = what.substr(bracket + 2);
    }
    throw SyntaxError{position == 0 ? 0 : position - 1, what};
  }

 private:
  struct Frame {
    Json* node;
    std::unordered_set<std::string> keys;
    bool is_object;
  };

  // Places a scalar; returns true to continue.
  bool put(Json&& value) {
    insert(std::move(value));
    return true;
  }
  // Places a container and returns where it now lives (containers grow, so only the innermost
  // open container's address is held, and it is never moved while open).
  Json* open(Json&& value) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) throw NestingTooDeep{};
    return insert(std::move(value));
  }
  Json* insert(Json&& value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    Frame& f = stack_.back();
    if (f.is_object) {
      auto& members = *f.node->get_ptr<Json::object_t*>();
      members.Container::emplace_back(std::move(pending_key_), std::move(value));
      return &members.Container::back().second;
    }
    auto& items = *f.node->get_ptr<Json::array_t*>();
    items.push_back(std::move(value));
    return &items.back();
  }

  Json& root_;
  bool locating_;
  std::vector<Frame> stack_;
  std::string pending_key_;
  std::unordered_map<std::string, int> key_counts_;  // for locating a repeated key in the text
};

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
  // nlohmann skips a leading byte-order mark and stops at a NUL byte as if the text ended there;
  // the reference safetensors reader (serde_json) refuses both, so "{...}\0<anything>" cannot hide bytes.
  if (text.starts_with("\xEF\xBB\xBF")) {
    throw Error(ErrorCode::BadJson, file, base_offset, std::string(field), "invalid JSON: starts with a UTF-8 byte-order mark");
  }
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    throw Error(ErrorCode::BadJson, file, base_offset + nul, std::string(field), "invalid JSON: NUL byte");
  }
  Json root;
  try {
    try {
      StrictBuilder builder(root, /*locating=*/false);
      Json::sax_parse(text.begin(), text.end(), &builder, nlohmann::detail::input_format_t::json, /*strict=*/true,
                      /*ignore_comments=*/false);
    } catch (const DuplicateSomewhere&) {
      StrictBuilder locate(root, /*locating=*/true);
      Json::sax_parse(text.begin(), text.end(), &locate, nlohmann::detail::input_format_t::json, true, false);
    }
  } catch (const SyntaxError& e) {
    throw Error(ErrorCode::BadJson, file, base_offset + std::min<uint64_t>(e.position, text.size()), std::string(field),
                "invalid JSON: " + e.what);
  } catch (const NestingTooDeep&) {
    throw Error(ErrorCode::TooDeep, file, base_offset, std::string(field),
                "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  } catch (const DuplicateKey& d) {
    throw Error(ErrorCode::DuplicateName, file, locate_json_key(text, d.key, base_offset, d.occurrence),
                std::string(field), "duplicate key '" + d.key + "'");
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    if (const auto bracket = what.find("] "); bracket != std::string::npos) what = what.substr(bracket + 2);
    throw Error(ErrorCode::BadJson, file, base_offset, std::string(field), "invalid JSON: " + what);
  }
  return root;
}

}  // namespace ckpt
