#include "runtime/jinja_value.h"

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace ckpt::runtime::jinja {

Value Value::new_list(List items) {
  Value v;
  v.kind = Kind::Array;
  v.list = std::make_shared<List>(std::move(items));
  return v;
}

Value Value::new_dict() {
  Value v;
  v.kind = Kind::Object;
  v.dict = std::make_shared<Dict>();
  return v;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return none();
    case nlohmann::ordered_json::value_t::boolean: return boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return integer(static_cast<int64_t>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return real(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Value v = new_list();
      for (const auto& x : j) v.list->push_back(from_json(x));
      return v;
    }
    case nlohmann::ordered_json::value_t::object: {
      Value v = new_dict();
      for (const auto& [k, x] : j.items()) v.dict->set(k, from_json(x));
      return v;
    }
    default: return Value();
  }
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::Undefined: case Kind::None: return false;
    case Kind::Bool: return b;
    case Kind::Int: return i != 0;
    case Kind::Float: return f != 0;
    case Kind::Str: return !s.empty();
    case Kind::Array: return !list->empty();
    case Kind::Object: return !dict->items.empty();
    case Kind::Callable: return true;
  }
  return false;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  for (auto& [k, x] : items) {
    if (k == key) {
      x = std::move(v);
      return;
    }
  }
  items.emplace_back(key, std::move(v));
}

namespace {

// Python's repr of a float: shortest round trip, with ".0" on integral values.
std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string quote_repr(const std::string& s) {
  const bool use_double = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = use_double ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    if (c == '\t') { out += "\\t"; continue; }
    if (c == '\r') { out += "\\r"; continue; }
    out += c;
  }
  return out + q;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v.b ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v.i);
    case Value::Kind::Float: return float_repr(v.f);
    case Value::Kind::Str: return v.s;
    default: return to_repr(v);
  }
}

std::string to_repr(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Str: return quote_repr(v.s);
    case Value::Kind::Array: {
      std::string out = "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? ", " : "") + to_repr((*v.list)[k]);
      return out + "]";
    }
    case Value::Kind::Object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        out += (first ? "" : ", ") + quote_repr(k) + ": " + to_repr(x);
        first = false;
      }
      return out + "}";
    }
    case Value::Kind::Callable: return "<function>";
    default: return to_str(v);
  }
}

// json.dumps(ensure_ascii=False): separators ", " / ": " without indent, "," / ": " with it.
std::string to_json(const Value& v, int indent, int level) {
  std::string nl, close;
  if (indent >= 0) {
    nl.assign(static_cast<size_t>(indent * (level + 1)) + 1, ' ');
    nl[0] = '\n';
    close.assign(static_cast<size_t>(indent * level) + 1, ' ');
    close[0] = '\n';
  }
  const std::string sep = indent >= 0 ? "," : ", ";
  switch (v.kind) {
    case Value::Kind::Undefined: case Value::Kind::None: return "null";
    case Value::Kind::Bool: return v.b ? "true" : "false";
    case Value::Kind::Int: return std::to_string(v.i);
    case Value::Kind::Float: return std::isfinite(v.f) ? float_repr(v.f) : (std::isnan(v.f) ? "NaN" : v.f > 0 ? "Infinity" : "-Infinity");
    case Value::Kind::Str: return json_string(v.s);
    case Value::Kind::Array: {
      if (v.list->empty()) return "[]";
      std::string out = "[";
      for (size_t k = 0; k < v.list->size(); ++k) out += (k ? sep : "") + nl + to_json((*v.list)[k], indent, level + 1);
      return out + close + "]";
    }
    case Value::Kind::Object: {
      if (v.dict->items.empty()) return "{}";
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict->items) {
        out += (first ? "" : sep) + nl + json_string(k) + ": " + to_json(x, indent, level + 1);
        first = false;
      }
      return out + close + "}";
    }
    case Value::Kind::Callable: return "null";
  }
  return "null";
}

bool equal(const Value& a, const Value& b) {
  if (a.numeric() && b.numeric()) return a.number() == b.number();
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Value::Kind::Undefined: case Value::Kind::None: return true;
    case Value::Kind::Str: return a.s == b.s;
    case Value::Kind::Array: {
      if (a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k) {
        if (!equal((*a.list)[k], (*b.list)[k])) return false;
      }
      return true;
    }
    case Value::Kind::Object: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, x] : a.dict->items) {
        const Value* y = b.dict->find(k);
        if (!y || !equal(x, *y)) return false;
      }
      return true;
    }
    default: return a.fn == b.fn;
  }
}

}  // namespace ckpt::runtime::jinja
