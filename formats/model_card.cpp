#include "formats/model_card.h"

#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

#include "formats/utf8.h"

namespace ckpt {

namespace {

constexpr size_t kMaxFrontMatter = 64 * 1024;
constexpr size_t kMaxItems = 1024;
constexpr size_t kMaxValue = 4096;

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// A YAML scalar: quotes removed (with their escapes), a trailing " # comment" dropped.
std::string scalar(std::string_view raw) {
  const std::string s = trim(raw);
  if (s.size() >= 2 && (s[0] == '"' || s[0] == '\'')) {
    const char q = s[0];
    std::string out;
    for (size_t i = 1; i < s.size(); ++i) {
      if (q == '\'' && s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
        out += '\'';
        ++i;
      } else if (q == '"' && s[i] == '\\' && i + 1 < s.size()) {
        const char c = s[++i];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else if (s[i] == q) {
        break;
      } else {
        out += s[i];
      }
    }
    return out;
  }
  const size_t comment = s.find(" #");
  std::string v = trim(comment == std::string::npos ? s : s.substr(0, comment));
  if (v == "~" || v == "null") return "";
  return v;
}

// "[a, 'b, c']" -> {a, b, c}
std::vector<std::string> inline_list(std::string_view s) {
  std::vector<std::string> items;
  std::string current;
  char quote = 0;
  auto flush = [&] {
    if (!trim(current).empty()) items.push_back(scalar(current));
    current.clear();
  };
  for (size_t i = 1; i < s.size(); ++i) {
    const char c = s[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ',' || c == ']') {
      flush();
      if (c == ']') return items;
      continue;
    }
    current += c;
  }
  flush();
  return items;
}

struct Value {
  std::vector<std::string> items;  // a scalar is one item
  bool list = false;
};

std::map<std::string, Value> front_matter(const std::string& text) {
  std::map<std::string, Value> out;
  std::istringstream in(text.substr(0, kMaxFrontMatter));
  std::string line;
  if (!std::getline(in, line) || trim(line) != "---") return out;
  std::string key;  // the key whose "- item" lines follow
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string t = trim(line);
    if (t == "---" || t == "...") break;
    if (t.empty() || t[0] == '#') continue;
    if (t.starts_with("- ") || t == "-") {
      if (!key.empty() && out[key].items.size() < kMaxItems) {
        const std::string item = scalar(t.substr(1));
        // A nested map in a list ("- name: x") is not a plain item; skip it.
        if (!item.empty() && (t[2] == '"' || t[2] == '\'' || item.find(": ") == std::string::npos)) out[key].items.push_back(item);
        out[key].list = true;
      }
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(line[0]))) continue;  // nested mapping content
    const size_t colon = line.find(':');
    if (colon == std::string::npos) {
      key.clear();
      continue;
    }
    key = trim(line.substr(0, colon));
    const std::string rest = trim(line.substr(colon + 1));
    Value& v = out[key];
    v = Value{};
    if (rest.starts_with("[")) {
      v.items = inline_list(rest);
      if (v.items.size() > kMaxItems) v.items.resize(kMaxItems);
      v.list = true;
    } else if (!rest.empty() && rest != "|" && rest != ">") {
      const std::string s = scalar(rest);
      if (!s.empty()) v.items.push_back(s);
    }
  }
  // Keep only text a GGUF string may hold.
  for (auto& [k, v] : out) {
    std::erase_if(v.items, [](const std::string& s) { return s.size() > kMaxValue || find_invalid_utf8(s) != std::string::npos; });
  }
  return out;
}

// gguf-py's Metadata.id_to_title: dashes to spaces, all-lowercase words title-cased unless they look
// like versions ("v1.2") or numbers.
std::string id_to_title(const std::string& id) {
  std::string spaced = id;
  for (char& c : spaced) {
    if (c == '-') c = ' ';
  }
  std::istringstream words(spaced);
  std::string w, out;
  while (words >> w) {
    bool has_upper = false, has_lower = false;
    for (char c : w) {
      has_upper |= std::isupper(static_cast<unsigned char>(c)) != 0;
      has_lower |= std::islower(static_cast<unsigned char>(c)) != 0;
    }
    const bool version = (w.size() > 1 && w[0] == 'v' && std::isdigit(static_cast<unsigned char>(w[1]))) || std::isdigit(static_cast<unsigned char>(w[0]));
    if (has_lower && !has_upper && !version) {
      // str.title(): a letter after a non-letter is upper-cased.
      bool after_letter = false;
      for (char& c : w) {
        const bool letter = std::isalpha(static_cast<unsigned char>(c)) != 0;
        if (letter && !after_letter) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        after_letter = letter;
      }
    }
    out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

// A base model or dataset reference: a hub id "org/name", or a URL.
void add_reference(std::vector<GgufKv>& kvs, const std::string& prefix, size_t i, const std::string& ref) {
  const std::string key = prefix + "." + std::to_string(i) + ".";
  std::string id = ref;
  const bool url = ref.starts_with("http://") || ref.starts_with("https://") || ref.starts_with("ssh://");
  if (url) {
    kvs.push_back({key + "repo_url", {ref}, 0});
    const std::string hub = "huggingface.co/";
    const size_t at = ref.find(hub);
    id = at == std::string::npos ? "" : ref.substr(at + hub.size());
    if (id.find('/') == std::string::npos || id.find('/') != id.rfind('/')) return;  // not exactly org/name
  }
  const size_t slash = id.find('/');
  const std::string name = slash == std::string::npos ? id : id.substr(slash + 1);
  const std::string org = slash == std::string::npos ? "" : id.substr(0, slash);
  if (!name.empty()) kvs.push_back({key + "name", {id_to_title(name)}, 0});
  if (!org.empty()) kvs.push_back({key + "organization", {id_to_title(org)}, 0});
  if (!url && !org.empty() && !name.empty()) kvs.push_back({key + "repo_url", {"https://huggingface.co/" + org + "/" + name}, 0});
}

}  // namespace

ModelCard parse_model_card(const std::string& text) {
  const auto fm = front_matter(text);
  ModelCard card;
  auto first = [&](std::initializer_list<const char*> keys) -> std::string {
    for (const char* k : keys) {
      const auto it = fm.find(k);
      if (it != fm.end() && !it->second.items.empty()) return it->second.items.front();
    }
    return "";
  };
  auto all = [&](std::initializer_list<const char*> keys, bool first_key_only) {
    std::vector<std::string> items;
    for (const char* k : keys) {
      const auto it = fm.find(k);
      if (it == fm.end()) continue;
      items.insert(items.end(), it->second.items.begin(), it->second.items.end());
      if (first_key_only && !it->second.items.empty()) break;
    }
    return items;
  };
  card.name = first({"name", "model_name"});
  auto& kvs = card.kvs;
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) kvs.push_back({key, {v}, 0});
  };
  put("general.author", first({"author", "model_author", "model_creator"}));
  put("general.version", first({"version", "model_version"}));
  put("general.organization", first({"organization", "model_organization"}));
  put("general.description", first({"description", "model_description"}));
  std::string license;
  for (const auto& l : all({"license"}, true)) license += (license.empty() ? "" : ",") + l;
  put("general.license", license);
  put("general.license.name", first({"license_name"}));
  put("general.license.link", first({"license_link"}));
  const auto bases = all({"base_model", "base_models", "base_model_sources"}, true);
  if (!bases.empty()) {
    kvs.push_back({"general.base_model.count", {static_cast<uint32_t>(bases.size())}, 0});
    for (size_t i = 0; i < bases.size(); ++i) add_reference(kvs, "general.base_model", i, bases[i]);
  }
  const auto datasets = all({"datasets", "dataset", "dataset_sources"}, true);
  if (!datasets.empty()) {
    kvs.push_back({"general.dataset.count", {static_cast<uint32_t>(datasets.size())}, 0});
    for (size_t i = 0; i < datasets.size(); ++i) add_reference(kvs, "general.dataset", i, datasets[i]);
  }
  const auto tags = all({"tags", "pipeline_tag"}, false);
  if (!tags.empty()) kvs.push_back({"general.tags", GgufValue::string_array(tags), 0});
  const auto languages = all({"languages", "language"}, false);
  if (!languages.empty()) kvs.push_back({"general.languages", GgufValue::string_array(languages), 0});
  return card;
}

ModelCard read_model_card(const std::string& readme_path) {
  std::ifstream in(readme_path, std::ios::binary);
  if (!in) return {};
  std::string text(kMaxFrontMatter, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return parse_model_card(text);
}

}  // namespace ckpt
