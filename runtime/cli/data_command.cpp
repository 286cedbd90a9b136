// `ckpt data check FILE.jsonl [--model M]` and `ckpt data split FILE --val 0.1 --seed S`: the
// preprocessing a fine-tuning workshop does in Python, on the records formats/training_data.h reads.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/output_guard.h"
#include "formats/training_data.h"
#include "inspect/cli/commands.h"
#include "runtime/jinja.h"
#include "runtime/runtime.h"

namespace ckpt::cli {
namespace {

struct DataFlags {
  std::string file, model, out_dir;
  uint64_t max_chars = 32768;
  uint64_t max_seq_length = 2048;
  double val = 0.1;
  uint64_t seed = 42;
  bool force = false;
  bool json = false;
};

void print_json(const nlohmann::ordered_json& j) { fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)); }

void check(const DataFlags& f) {
  DataLimits limits;
  limits.max_chars = f.max_chars;
  const TrainingData data = read_training_data(f.file, limits);
  nlohmann::ordered_json problems = nlohmann::ordered_json::array();
  auto report = [&](size_t line, uint64_t offset, bool error, const std::string& field, const std::string& message) {
    if (f.json) {
      problems.push_back({{"line", line}, {"offset", offset}, {"severity", error ? "error" : "warning"}, {"field", field}, {"message", message}});
    } else {
      fmt::print("{}:{}: {}: {}: {}\n", data.path, line, error ? "error" : "warning", field, message);
    }
  };
  for (const auto& p : data.problems) report(p.line, p.offset, p.error, p.field, p.message);
  std::map<std::string, size_t> kinds;
  for (const auto& r : data.records) ++kinds[record_kind_name(r.kind)];
  std::string kind_list;
  for (const auto& [k, n] : kinds) kind_list += fmt::format("{}{} {}", kind_list.empty() ? "" : ", ", n, k);
  nlohmann::ordered_json j = {{"file", data.path}, {"lines", data.lines}, {"valid", data.records.size()}, {"kinds", kinds},
                              {"errors", data.errors()}, {"warnings", data.problems.size() - data.errors()}};
  if (!f.json) {
    fmt::print("{}: {} records read, {} valid ({}), {} errors, {} warnings\n", data.path, data.lines, data.records.size(),
               kind_list.empty() ? "none" : kind_list, data.errors(), data.problems.size() - data.errors());
  }
  if (!f.model.empty() && !data.records.empty()) {
    const runtime::Model model = runtime::load_model(f.model);
    const runtime::Tokenizer tok(model.vocab, f.model);
    std::vector<size_t> lengths;
    size_t over = 0;
    for (const auto& r : data.records) {
      try {
        lengths.push_back(runtime::tokenize_record(tok, runtime::render_record(r, model, data.path), 0).ids.size());
      } catch (const Error& e) {  // a chat record the model cannot render: reported, not measured
        report(r.line, r.offset, false, "tokens", e.detail());
        continue;
      }
      if (lengths.back() > f.max_seq_length) {
        ++over;
        report(r.line, r.offset, false, "tokens",
               fmt::format("{} tokens exceed --max_seq_length {} (the tail would be cut)", lengths.back(), f.max_seq_length));
      }
    }
    if (lengths.empty()) lengths.push_back(0);
    std::vector<size_t> sorted = lengths;
    std::sort(sorted.begin(), sorted.end());
    double sum = 0;
    for (size_t n : sorted) sum += static_cast<double>(n);
    // p95 as the nearest rank: the smallest length with at least 95% of the records at or below it.
    const size_t rank = static_cast<size_t>(std::ceil(0.95 * static_cast<double>(sorted.size())));
    const double mean = sum / static_cast<double>(sorted.size());
    const size_t p95 = sorted[std::max<size_t>(rank, 1) - 1];
    j["tokens"] = {{"model", f.model}, {"mean", mean}, {"p95", p95}, {"max", sorted.back()}, {"over_max_seq_length", over},
                   {"max_seq_length", f.max_seq_length}};
    if (!f.json) {
      fmt::print("tokens ({}): mean {:.1f}, p95 {}, max {}; {} of {} over --max_seq_length {}\n", f.model, mean, p95, sorted.back(), over,
                 sorted.size(), f.max_seq_length);
    }
  }
  if (f.json) {
    j["problems"] = std::move(problems);
    print_json(j);
  }
  if (data.errors() > 0) {
    const auto& first = *std::find_if(data.problems.begin(), data.problems.end(), [](const DataProblem& p) { return p.error; });
    throw Error(ErrorCode::InvalidArgument, data.path, first.offset, "data", fmt::format("{} invalid records (first at line {})", data.errors(), first.line));
  }
}

void split(const DataFlags& f) {
  const TrainingData data = read_training_data(f.file);
  if (data.errors() > 0) {
    const auto& p = *std::find_if(data.problems.begin(), data.problems.end(), [](const DataProblem& q) { return q.error; });
    throw Error(ErrorCode::InvalidArgument, data.path, p.offset, p.field,
                fmt::format("line {}: {} ({} invalid records; run `ckpt data check`)", p.line, p.message, data.errors()));
  }
  const DataSplit s = split_training_data(data.records.size(), f.val, f.seed);
  namespace fs = std::filesystem;
  const fs::path in(f.file);
  const fs::path dir = f.out_dir.empty() ? in.parent_path() : fs::path(f.out_dir);
  const std::string stem = in.stem().string();
  const std::string train = (dir / (stem + ".train.jsonl")).string(), val = (dir / (stem + ".val.jsonl")).string();
  for (const auto& out : {train, val}) {
    if (!f.force && fs::exists(out)) throw Error(ErrorCode::InvalidArgument, out, Error::kNoOffset, "output", "exists; pass --force to replace it");
    check_output_path(out, {f.file}, /*output_is_directory=*/false);
  }
  auto write = [&](const std::string& path, const std::vector<size_t>& which) {
    std::string text;
    for (size_t i : which) text += data.records[i].raw + "\n";
    write_text_file(path, text);
  };
  write(train, s.train);
  write(val, s.validation);
  if (f.json) {
    print_json({{"file", f.file}, {"records", data.records.size()}, {"train", {{"path", train}, {"records", s.train.size()}}},
                {"validation", {{"path", val}, {"records", s.validation.size()}}}, {"seed", f.seed}});
    return;
  }
  if (quiet_output()) return;
  fmt::print("{}: {} records -> {} ({}) and {} ({}), seed {}\n", f.file, data.records.size(), train, s.train.size(), val,
             s.validation.size(), f.seed);
}

}  // namespace

void add_data_command(CLI::App& app) {
  auto f = std::make_shared<DataFlags>();
  CLI::App* cmd = app.add_subcommand("data", "Check and split instruction-tuning data (JSONL: RAFT, prompt/completion, chat, text)");
  cmd->require_subcommand(1);
  CLI::App* chk = cmd->add_subcommand("check", "Validate every record (schema, lengths, duplicates); with --model, token lengths");
  chk->add_option("file", f->file, "JSON Lines file")->required();
  chk->add_option("--model", f->model, "Model whose tokenizer (and chat template) measures token lengths");
  chk->add_option("--max_seq_length,--max-seq-length", f->max_seq_length, "Token limit to count records over (with --model)")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 24));
  chk->add_option("--max-chars", f->max_chars, "Warn about records with more characters than this")->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  chk->add_flag("--json", f->json, "Print the counts, problems (line, byte offset, field) and token statistics as one JSON object");
  chk->callback([f] { check(*f); });
  CLI::App* spl = cmd->add_subcommand("split", "Write FILE.train.jsonl and FILE.val.jsonl, a deterministic split by --seed");
  spl->add_option("file", f->file, "JSON Lines file")->required();
  spl->add_option("--val", f->val, "Fraction of records for validation")->check(CLI::Range(0.0, 0.99));
  spl->add_option("--seed", f->seed, "Shuffle seed (the split is the same for a seed on every machine)");
  spl->add_option("-o,--out-dir", f->out_dir, "Directory for the two files (default: beside FILE)");
  spl->add_flag("--force", f->force, "Replace existing output files");
  spl->add_flag("--json", f->json, "Print the two files and their record counts as JSON");
  spl->callback([f] { split(*f); });
}

}  // namespace ckpt::cli
