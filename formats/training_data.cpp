#include "formats/training_data.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_map>

#include "formats/error.h"
#include "formats/mapped_file.h"
#include "formats/splitmix64.h"
#include "formats/utf8.h"

namespace ckpt {
namespace {

struct LineChecker {
  TrainingData& data;
  uint64_t line, offset;

  void problem(const std::string& field, const std::string& message, bool error = true) {
    data.problems.push_back({line, offset, field, message, error});
  }
  // A required non-empty string field; nullptr (and an error) otherwise.
  const std::string* text(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) {
      problem(key, "missing");
      return nullptr;
    }
    if (!it->is_string()) {
      problem(key, "must be a string, found " + std::string(it->type_name()));
      return nullptr;
    }
    if (it->get_ref<const std::string&>().find_first_not_of(" \t\r\n") == std::string::npos) {
      problem(key, "is empty");
      return nullptr;
    }
    return &it->get_ref<const std::string&>();
  }
};

// Lowercase letters and digits only: "Hello,  World!" and "hello world" are near duplicates.
std::string normalized(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c)) out.push_back(static_cast<char>(std::tolower(c)));
    if (c >= 0x80) out.push_back(static_cast<char>(c));  // non-ASCII text kept as is
  }
  return out;
}

std::optional<TrainingRecord> check_record(const nlohmann::json& j, LineChecker& c) {
  TrainingRecord r;
  r.line = c.line;
  r.offset = c.offset;
  if (!j.is_object()) {
    c.problem("record", "must be a JSON object, found " + std::string(j.type_name()));
    return std::nullopt;
  }
  const size_t before = c.data.problems.size();
  if (j.contains("messages")) {
    r.kind = RecordKind::Chat;
    const auto& m = j["messages"];
    if (!m.is_array() || m.empty()) {
      c.problem("messages", "must be a non-empty array");
      return std::nullopt;
    }
    for (size_t i = 0; i < m.size(); ++i) {
      const std::string field = "messages[" + std::to_string(i) + "]";
      if (!m[i].is_object()) {
        c.problem(field, "must be an object with role and content");
        continue;
      }
      const auto role = m[i].find("role");
      if (role == m[i].end() || !role->is_string() || role->get<std::string>().empty()) c.problem(field + ".role", "missing or not a string");
      const auto content = m[i].find("content");
      if (content == m[i].end() || !(content->is_string() || content->is_array())) c.problem(field + ".content", "missing, or neither a string nor a list of parts");
    }
    r.messages = nlohmann::ordered_json::parse(m.dump());
  } else if (j.contains("instruction") || j.contains("question") || j.contains("answer") || j.contains("context")) {
    r.kind = RecordKind::Raft;
    const std::string* instruction = c.text(j, "instruction");
    const std::string* question = c.text(j, "question");
    const std::string* answer = c.text(j, "answer");
    std::vector<std::string> contexts;
    const auto ctx = j.find("context");
    if (ctx == j.end()) {
      c.problem("context", "missing");
    } else if (ctx->is_string()) {
      if (ctx->get_ref<const std::string&>().empty()) c.problem("context", "is empty");
      contexts.push_back(ctx->get<std::string>());
    } else if (ctx->is_array()) {
      if (ctx->empty()) c.problem("context", "is an empty list");
      for (size_t i = 0; i < ctx->size(); ++i) {
        if (!(*ctx)[i].is_string() || (*ctx)[i].get_ref<const std::string&>().empty()) {
          c.problem("context[" + std::to_string(i) + "]", "must be a non-empty string");
        } else {
          contexts.push_back((*ctx)[i].get<std::string>());
        }
      }
    } else {
      c.problem("context", "must be a string or a list of strings, found " + std::string(ctx->type_name()));
    }
    const auto cot = j.find("cot");
    if (cot != j.end() && !cot->is_null() && !cot->is_string()) c.problem("cot", "must be a string when present");
    if (instruction && question && answer) {
      r.prompt = *instruction + "\n\n";
      for (const auto& s : contexts) r.prompt += s + "\n\n";
      r.prompt += "Question: " + *question + "\nAnswer: ";
      r.completion = (cot != j.end() && cot->is_string() && !cot->get_ref<const std::string&>().empty() ? cot->get<std::string>() + "\n" : "") + *answer;
    }
  } else if (j.contains("prompt") || j.contains("completion")) {
    r.kind = RecordKind::PromptCompletion;
    const std::string* prompt = c.text(j, "prompt");
    const std::string* completion = c.text(j, "completion");
    if (prompt && completion) {
      r.prompt = *prompt;
      r.completion = *completion;
    }
  } else if (j.contains("text")) {
    r.kind = RecordKind::Text;
    if (const std::string* text = c.text(j, "text")) r.completion = *text;
  } else {
    c.problem("record", "has none of the known shapes (RAFT instruction/context/question/answer, prompt/completion, messages, text)");
    return std::nullopt;
  }
  if (c.data.problems.size() != before) return std::nullopt;
  return r;
}

}  // namespace

const char* record_kind_name(RecordKind kind) {
  switch (kind) {
    case RecordKind::Raft: return "raft";
    case RecordKind::PromptCompletion: return "prompt/completion";
    case RecordKind::Chat: return "chat";
    case RecordKind::Text: return "text";
  }
  return "?";
}

std::string TrainingRecord::full_text() const {
  if (kind != RecordKind::Chat) return prompt + completion;
  std::string out;
  for (const auto& m : messages) {
    const auto c = m.find("content");
    if (c != m.end()) out += (c->is_string() ? c->get<std::string>() : c->dump()) + "\n";
  }
  return out;
}

size_t TrainingData::errors() const {
  return static_cast<size_t>(std::count_if(problems.begin(), problems.end(), [](const DataProblem& p) { return p.error; }));
}

TrainingData read_training_data(const std::string& path, const DataLimits& limits) {
  return read_training_data(*MappedFile::open(path), limits);
}

TrainingData read_training_data(const MappedFile& file, const DataLimits& limits) {
  const std::string_view text(reinterpret_cast<const char*>(file.bytes().data()), file.size());
  TrainingData data;
  data.path = file.path();
  std::unordered_map<std::string, uint64_t> exact, near;  // text -> first line
  uint64_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, end - pos);
    const uint64_t offset = pos;
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    ++data.lines;
    LineChecker c{data, line_no, offset};
    if (line.size() > limits.max_line_bytes) {
      c.problem("record", "line of " + std::to_string(line.size()) + " bytes exceeds " + std::to_string(limits.max_line_bytes));
      continue;
    }
    if (const size_t bad = find_invalid_utf8(line); bad != std::string_view::npos) {
      data.problems.push_back({line_no, offset + bad, "record", "is not valid UTF-8", true});
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      data.problems.push_back({line_no, offset + (e.byte > 0 ? e.byte - 1 : 0), "record", "is not valid JSON", true});
      continue;
    } catch (const nlohmann::json::exception&) {  // a number out of range (1e999999)
      data.problems.push_back({line_no, offset, "record", "is not valid JSON (a number out of range)", true});
      continue;
    }
    auto record = check_record(j, c);
    if (!record) continue;
    record->raw = std::string(line);
    const std::string full = record->full_text();
    if (full.size() > limits.max_chars) {
      c.problem("record", std::to_string(full.size()) + " characters exceed the limit of " + std::to_string(limits.max_chars), false);
    }
    if (const auto [it, fresh] = exact.emplace(full, line_no); !fresh) {
      c.problem("record", "duplicates line " + std::to_string(it->second), false);
    } else if (const auto [nit, nfresh] = near.emplace(normalized(full), line_no); !nfresh) {
      c.problem("record", "near duplicate of line " + std::to_string(nit->second) + " (same letters and digits, case and punctuation aside)", false);
    }
    data.records.push_back(std::move(*record));
  }
  return data;
}

DataSplit split_training_data(size_t n, double val_fraction, uint64_t seed) {
  if (!(val_fraction >= 0 && val_fraction < 1)) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--val", "must be in [0, 1)");
  }
  const std::vector<size_t> order = shuffled_indices(n, seed);
  size_t n_val = static_cast<size_t>(std::llround(static_cast<double>(n) * val_fraction));
  if (val_fraction > 0 && n >= 2) n_val = std::clamp<size_t>(n_val, 1, n - 1);
  DataSplit s;
  s.validation.assign(order.begin(), order.begin() + static_cast<ptrdiff_t>(n_val));
  s.train.assign(order.begin() + static_cast<ptrdiff_t>(n_val), order.end());
  std::sort(s.validation.begin(), s.validation.end());
  std::sort(s.train.begin(), s.train.end());
  return s;
}

}  // namespace ckpt
