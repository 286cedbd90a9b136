// `ckpt eval MODEL --data test.jsonl [--lora A] [--compare-base]` (or `--predictions FILE`): answers
// each record with the runtime (greedy unless told otherwise) and scores them against the references
// with ROUGE (rouge-score semantics) and BLEU (sacrebleu semantics), printing each metric's signature.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/parallel.h"
#include "formats/splitmix64.h"
#include "formats/training_data.h"
#include "inspect/cli/commands.h"
#include "generation_flags.h"  // beside this file (the CLI's own, not a library header)
#include "runtime/bleu.h"
#include "runtime/jinja.h"
#include "runtime/rouge.h"
#include "runtime/runtime.h"

namespace ckpt::cli {
namespace {

using namespace ckpt::runtime;

struct EvalFlags {
  std::string model, data, predictions, out_dir, rouge_tokenizer = "ascii";
  std::vector<std::string> lora;
  bool compare_base = false;
  bool stem = false;  // rouge-score's use_stemmer
  bool json = false;
  int n_predict = 128;
  unsigned threads = 0;
  std::string device = "auto";
  uint64_t seed = 0;
  int bootstrap = 1000;
  size_t show = 0;  // print the first N examples' answers
  SamplingParams sampling;  // greedy unless --temp says otherwise
};

struct Example {
  uint64_t line = 0;
  std::string reference;
  const TrainingRecord* record = nullptr;  // rendered against the model when generating
};

const char* kRougeTypes[] = {"rouge1", "rouge2", "rougeL", "rougeLsum"};

struct Scores {
  std::vector<std::array<RougeScore, 4>> rouge;  // per example
  std::vector<double> sentence_bleu;
  BleuScore corpus;
  double mean_f(size_t t) const {
    double s = 0;
    for (const auto& r : rouge) s += r[t].fmeasure;
    return rouge.empty() ? 0 : s / static_cast<double>(rouge.size());
  }
};

// References need no model: the completion, or a chat record's last (assistant) message.
std::vector<Example> examples_of(const TrainingData& data) {
  std::vector<Example> out;
  for (const auto& r : data.records) {
    if (r.kind == RecordKind::Text) {
      throw Error(ErrorCode::InvalidArgument, data.path, r.offset, "record", fmt::format("line {}: a text record has no reference to score against", r.line));
    }
    std::string reference = r.completion;
    if (r.kind == RecordKind::Chat) {
      const auto& last = r.messages.back();
      if (last.value("role", "") != "assistant" || !last.contains("content") || !last["content"].is_string()) {
        throw Error(ErrorCode::InvalidArgument, data.path, r.offset, "messages",
                    fmt::format("line {}: the last message must be the assistant's reference answer", r.line));
      }
      reference = last["content"].get<std::string>();
    }
    out.push_back({r.line, std::move(reference), &r});
  }
  return out;
}

std::vector<std::string> generate_all(const EvalFlags& f, const std::vector<Example>& examples, bool with_lora) {
  Model model = load_model(f.model);
  if (with_lora) attach_lora(model, lora_specs(f.lora));
  const Tokenizer tok(model.vocab, f.model);
  GenerateOptions g;
  g.max_new_tokens = f.n_predict;
  g.sampling = f.sampling;
  g.echo_prompt = false;
  std::vector<std::vector<int32_t>> prompts;
  size_t longest = 0;
  for (const auto& e : examples) {
    prompts.push_back(tok.encode(render_record(*e.record, model, f.data).prompt, g.add_special, g.parse_special));
    longest = std::max(longest, prompts.back().size());
  }
  // One forward pass (one upload of the weights to a GPU), its cache sized for the longest record.
  const size_t n_ctx = std::min<size_t>(longest + static_cast<size_t>(f.n_predict) + 1, std::max<uint32_t>(model.hp.n_ctx_train, 1));
  Forward forward(model, static_cast<uint32_t>(n_ctx), make_backend(parse_device(f.device), model, bounded_thread_count(f.threads)), KvType::F16);
  std::vector<std::string> out;
  for (const auto& tokens : prompts) {
    out.push_back(generate_tokens(forward, tok, tokens, g, [](std::string_view) {}).text);
    ++g.sampling.seed;  // each record its own stream, the same for base and adapter
  }
  return out;
}

std::vector<std::string> read_predictions(const std::string& path, size_t expected) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, path, Error::kNoOffset, "--predictions", "cannot be read");
  std::vector<std::string> out;
  std::string line;
  uint64_t offset = 0;
  while (std::getline(in, line)) {
    const uint64_t at = offset;
    offset += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      throw Error(ErrorCode::BadJson, path, at, "--predictions", fmt::format("line {} is not valid JSON", out.size() + 1));
    }
    if (!j.is_object() || !j.contains("prediction") || !j["prediction"].is_string()) {
      throw Error(ErrorCode::BadJson, path, at, "prediction", fmt::format("line {} needs a string \"prediction\"", out.size() + 1));
    }
    out.push_back(j["prediction"].get<std::string>());
  }
  if (out.size() != expected) {
    throw Error(ErrorCode::InvalidArgument, path, Error::kNoOffset, "--predictions", fmt::format("{} predictions for {} records", out.size(), expected));
  }
  return out;
}

Scores score(const std::vector<Example>& examples, const std::vector<std::string>& predictions, RougeTokenizer tok, bool stem) {
  Scores s;
  std::vector<std::string> refs;
  BleuOptions sentence;
  sentence.effective_order = true;  // as sacrebleu's sentence_bleu
  for (size_t i = 0; i < examples.size(); ++i) {
    std::array<RougeScore, 4> r;
    for (size_t t = 0; t < 4; ++t) r[t] = rouge_score(parse_rouge_type(kRougeTypes[t]), examples[i].reference, predictions[i], tok, stem);
    s.rouge.push_back(r);
    s.sentence_bleu.push_back(sentence_bleu(predictions[i], {examples[i].reference}, sentence).score);
    refs.push_back(examples[i].reference);
  }
  s.corpus = corpus_bleu(predictions, {refs});
  return s;
}

// A seeded percentile bootstrap of the mean (rouge-score's BootstrapAggregator draws unseeded).
std::pair<double, double> bootstrap_interval(const std::vector<double>& v, int samples, uint64_t seed) {
  if (v.empty() || samples <= 0) return {0, 0};
  SplitMix64 rng(seed);
  std::vector<double> means;
  for (int b = 0; b < samples; ++b) {
    double sum = 0;
    for (size_t i = 0; i < v.size(); ++i) sum += v[rng.below(v.size())];
    means.push_back(sum / static_cast<double>(v.size()));
  }
  std::sort(means.begin(), means.end());
  auto pct = [&](double q) { return means[std::min(means.size() - 1, static_cast<size_t>(q * static_cast<double>(means.size())))]; };
  return {pct(0.025), pct(0.975)};
}

nlohmann::ordered_json summary_json(const Scores& s, const EvalFlags& f) {
  nlohmann::ordered_json j;
  for (size_t t = 0; t < 4; ++t) {
    std::vector<double> fs;
    for (const auto& r : s.rouge) fs.push_back(r[t].fmeasure);
    const auto [lo, hi] = bootstrap_interval(fs, f.bootstrap, f.seed);
    j[kRougeTypes[t]] = {{"fmeasure_mean", s.mean_f(t)}, {"ci95", {lo, hi}}};
  }
  j["bleu"] = {{"score", s.corpus.score}, {"bp", s.corpus.bp}, {"precisions", s.corpus.precisions}, {"sys_len", s.corpus.sys_len}, {"ref_len", s.corpus.ref_len}};
  return j;
}

void run_eval(const EvalFlags& f) {
  const TrainingData data = read_training_data(f.data);
  if (data.errors() > 0) {
    const auto& p = *std::find_if(data.problems.begin(), data.problems.end(), [](const DataProblem& q) { return q.error; });
    throw Error(ErrorCode::InvalidArgument, data.path, p.offset, p.field, fmt::format("line {}: {} (run `ckpt data check`)", p.line, p.message));
  }
  const auto examples = examples_of(data);
  if (examples.empty()) throw Error(ErrorCode::InvalidArgument, data.path, Error::kNoOffset, "--data", "no records to evaluate");
  const RougeTokenizer tok = f.rouge_tokenizer == "unicode" ? RougeTokenizer::Unicode : RougeTokenizer::Ascii;
  if (tok == RougeTokenizer::Ascii) {
    size_t blind = 0;
    for (const auto& e : examples) blind += rouge_tokenize(e.reference, tok).empty() && !rouge_tokenize(e.reference, RougeTokenizer::Unicode).empty();
    if (blind > 0) {
      fmt::print(stderr, "ckpt: warning: {} of {} references have no ASCII letters or digits: rouge-score's tokenizer scores them 0 "
                         "(--rouge-tokenizer unicode counts words of every script)\n", blind, examples.size());
    }
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> runs;  // label, predictions
  if (!f.predictions.empty()) {
    runs.emplace_back("predictions", read_predictions(f.predictions, examples.size()));
  } else {
    if (f.compare_base) runs.emplace_back("base", generate_all(f, examples, false));
    runs.emplace_back(f.lora.empty() ? "model" : "adapter", generate_all(f, examples, true));
  }
  std::vector<Scores> scores;
  for (const auto& [label, preds] : runs) scores.push_back(score(examples, preds, tok, f.stem));
  // The same summary goes to summary.json (-o) and, with --json, to stdout.
  nlohmann::ordered_json summary = {{"examples", examples.size()}, {"rouge_tokenizer", f.rouge_tokenizer},
                                    {"rouge_stemmer", f.stem}, {"bleu_signature", bleu_signature(BleuOptions{}, 1)}};
  for (size_t k = 0; k < runs.size(); ++k) summary[runs[k].first] = summary_json(scores[k], f);
  if (f.json) {
    nlohmann::ordered_json shown = nlohmann::ordered_json::array();
    for (size_t i = 0; i < std::min(f.show, examples.size()); ++i) {
      nlohmann::ordered_json e = {{"line", examples[i].line}, {"reference", examples[i].reference}};
      for (const auto& [label, preds] : runs) e[label] = preds[i];
      shown.push_back(std::move(e));
    }
    if (f.show) summary["shown"] = std::move(shown);
    fmt::print("{}\n", summary.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  }
  for (size_t i = 0; !f.json && i < std::min(f.show, examples.size()); ++i) {
    // JSON string quoting keeps multi-line answers on one line each.
    fmt::print("line {}: reference {}\n", examples[i].line, nlohmann::json(examples[i].reference).dump());
    for (const auto& [label, preds] : runs) fmt::print("  {:<10} {}\n", label, nlohmann::json(preds[i]).dump());
  }
  auto row = [&](const std::string& name, auto value) {
    if (f.json) return;
    fmt::print("{:<10}", name);
    for (const auto& s : scores) fmt::print("{:>12.4f}", value(s));
    if (scores.size() == 2) fmt::print("{:>+12.4f}", value(scores[1]) - value(scores[0]));
    fmt::print("\n");
  };
  if (!f.json) {
    fmt::print("{:<10}", "metric");
    for (const auto& [label, preds] : runs) fmt::print("{:>12}", label);
    if (runs.size() == 2) fmt::print("{:>12}", "change");
    fmt::print("\n");
  }
  for (size_t t = 0; t < 4; ++t) row(kRougeTypes[t], [t](const Scores& s) { return s.mean_f(t); });
  row("BLEU", [](const Scores& s) { return s.corpus.score; });
  if (!f.json) fmt::print("{} examples; ROUGE: F mean, rouge|tok:{}|stem:{}|lsum:newline|agg:mean; BLEU: {}\n", examples.size(),
             f.rouge_tokenizer, f.stem ? "nltk-porter" : "none", bleu_signature(BleuOptions{}, 1));
  if (!f.out_dir.empty()) {
    std::filesystem::create_directories(f.out_dir);
    std::string lines;
    for (size_t i = 0; i < examples.size(); ++i) {
      nlohmann::ordered_json e = {{"line", examples[i].line}, {"reference", examples[i].reference}};
      for (size_t k = 0; k < runs.size(); ++k) {
        nlohmann::ordered_json per = {{"prediction", runs[k].second[i]}, {"sentence_bleu", scores[k].sentence_bleu[i]}};
        for (size_t t = 0; t < 4; ++t) {
          const auto& r = scores[k].rouge[i][t];
          per[kRougeTypes[t]] = {{"precision", r.precision}, {"recall", r.recall}, {"fmeasure", r.fmeasure}};
        }
        e[runs[k].first] = per;
      }
      lines += e.dump() + "\n";
    }
    write_text_file((std::filesystem::path(f.out_dir) / "examples.jsonl").string(), lines);
    summary.erase("shown");
    write_text_file((std::filesystem::path(f.out_dir) / "summary.json").string(), summary.dump(2) + "\n");
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand("eval", "Answer test records with a model (and adapter) and score them: ROUGE-1/2/L/Lsum and BLEU");
  cmd->add_option("model", f->model, "Model (.gguf or HF directory); not needed with --predictions");
  cmd->add_option("--data", f->data, "Test records (JSONL: RAFT, prompt/completion, or chat ending in the assistant's answer)")->required();
  cmd->add_option("--lora", f->lora, "Adapter(s) applied at run time, PATH[:SCALE] (repeatable)");
  cmd->add_flag("--compare-base", f->compare_base, "Also answer with the base model and print both with the change");
  cmd->add_option("--predictions", f->predictions, "Score these outputs (JSONL {\"prediction\": ...}, one per record) instead of generating");
  cmd->add_option("-n,--max-new-tokens,--max_new_tokens", f->n_predict, "Tokens per answer")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--rouge-tokenizer", f->rouge_tokenizer, "ascii (rouge-score's: non-Latin text scores 0) or unicode")
      ->check(CLI::IsMember({"ascii", "unicode"}));
  auto& s = f->sampling;
  s.temperature = 0;
  add_sampling_flags(cmd, s);
  cmd->add_option("-s,--sample-seed", s.seed, "Sampling seed of the first record (record i uses seed + i)");
  cmd->add_option("--seed", f->seed, "Seed of the bootstrap confidence interval in summary.json");
  cmd->add_flag("--use_stemmer,--rouge-stem", f->stem, "ROUGE with rouge-score's use_stemmer (NLTK-mode Porter on tokens of 4+ characters)");
  cmd->add_option("--show", f->show, "Print the reference and every answer of the first N records");
  cmd->add_option("-o,--out", f->out_dir, "Write examples.jsonl (per example) and summary.json here");
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  add_device_option(cmd, "--device", f->device, "Where to generate");
  cmd->add_flag("--json", f->json, "Print the summary (what summary.json holds; with --show, the shown answers) as JSON");
  cmd->callback([f] {
    if (f->predictions.empty() && f->model.empty()) throw CLI::ValidationError("model", "is required unless --predictions gives the outputs");
    if (f->compare_base && f->lora.empty()) throw CLI::ValidationError("--compare-base", "needs --lora (the base is the model without it)");
    run_eval(*f);
  });
}

}  // namespace ckpt::cli
