// `ckpt run MODEL -p "Once upon a time" -n 64`: load a GGUF or HF directory and generate, streaming
// text to stdout; `--check OTHER` compares two models' logits on the same tokens instead.
#include <chrono>
#include <climits>
#include <iostream>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/merge.h"
#include "formats/error.h"
#include "formats/parallel.h"
#include "formats/progress.h"
#include "inspect/cli/commands.h"
#include "generation_flags.h"  // beside this file (the CLI's own, not a library header)
#include "runtime/runtime.h"

namespace ckpt::cli {
namespace {

using namespace ckpt::runtime;

struct RunFlags {
  std::string model, prompt, prompt_file, check, system, chat_template_file, tools_file, messages_file;
  std::vector<std::string> lora, check_lora;  // PATH[:SCALE]
  bool chat = false, interactive = false;
  std::string kv_type = "f16";
  std::string device = "auto", check_device;
  int n_predict = 64;
  int n_seq = 1;
  unsigned threads = 0;
  uint32_t ctx = 0;
  bool greedy = false, no_bos = false, no_special = false, verbose = false, print_ids = false, no_echo = false;
  bool reference_kernels = false, json = false, ignore_eos = false, raw = false, truncate_prompt = false;
  int64_t seed = -1;  // llama.cpp's convention: -1 (the default) draws one
  bool no_escape = false;
  double min_top1 = -1;
  GenerateOptions gen;
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Loaded {
  Model model;
  std::unique_ptr<Tokenizer> tok;
  double seconds;
};

Loaded load(const std::string& path, const std::vector<std::string>& adapters) {
  const double t0 = now_seconds();
  Loaded l{load_model(path), nullptr, 0};
  attach_lora(l.model, lora_specs(adapters));
  l.tok = std::make_unique<Tokenizer>(l.model.vocab, path);
  l.seconds = now_seconds() - t0;
  return l;
}

KvType kv_type(const RunFlags& f) { return f.kv_type == "f32" ? KvType::F32 : KvType::F16; }

// A forward pass of `model` on `device` (auto: CUDA when it can take the model); --verbose says which.
Forward make_forward(const RunFlags& f, const Model& model, uint32_t n_ctx, const std::string& device) {
  std::string note;
  auto backend = make_backend(parse_device(device), model, bounded_thread_count(f.threads), &note);
  if (f.verbose) {
    fmt::print(stderr, "backend: {}{}\n", backend->name(), note.empty() ? "" : fmt::format(" (--device {}: {})", device, note));
  }
  return Forward(model, n_ctx, std::move(backend), kv_type(f));
}

// The context a run may use: --ctx-size, else the model's training context. Positions past the
// training context produce garbage, so a prompt that does not fit is an error (or, with
// --truncate-prompt, loses its oldest tokens) instead of a silent run into nonsense.
uint64_t seed_of(const RunFlags& f) { return f.seed >= 0 ? static_cast<uint64_t>(f.seed) : std::random_device{}(); }

// -n -1 (llama.cpp): until end of generation or a full context.
bool until_context_full(const RunFlags& f) { return f.n_predict < 0; }

uint32_t context_limit(const RunFlags& f, const Model& m) {
  if (f.ctx) return f.ctx;
  return m.hp.n_ctx_train ? m.hp.n_ctx_train : 2048;
}

// KV cache size: what the run needs, at least 4096 positions when the limit allows (cheap), never past the limit.
uint32_t context_size(const RunFlags& f, const Model& m, size_t needed) {
  const uint32_t limit = context_limit(f, m);
  if (f.ctx) return limit;
  return static_cast<uint32_t>(std::min<size_t>(limit, std::max<size_t>(needed, 4096)));
}

void fit_prompt(const RunFlags& f, const Model& m, std::vector<int32_t>& tokens, size_t reserve) {
  const uint32_t limit = context_limit(f, m);
  if (tokens.size() + reserve <= limit) return;
  if (!f.truncate_prompt || limit <= reserve) {
    throw Error(ErrorCode::InvalidArgument, f.model, Error::kNoOffset, "prompt",
                fmt::format("{} prompt tokens{} do not fit the context of {} positions ({}); shorten the prompt, raise "
                            "--ctx-size, or pass --truncate-prompt to keep its last tokens",
                            tokens.size(), reserve > 1 ? fmt::format(" + {} to generate", reserve) : "", limit,
                            f.ctx ? "--ctx-size" : "the model's training context"));
  }
  const size_t keep = limit - reserve;
  tokens.erase(tokens.begin(), tokens.end() - static_cast<ptrdiff_t>(keep));
}

// Generated text goes to a terminal: a vocabulary entry holding ESC sequences could move the cursor
// or rewrite the screen. Control characters other than newline and tab are shown escaped unless --raw.
std::string displayable(std::string_view text, bool raw) {
  if (raw) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if ((u < 0x20 && u != '\n' && u != '\t' && u != '\r') || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else if (u == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      // C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F): CSI U+009B starts escape sequences too.
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(text[++i]));
    } else {
      out += text[i];
    }
  }
  return out;
}

void print_model_summary(const Loaded& l) {
  const auto& hp = l.model.hp;
  std::map<std::string, int> types;
  for (const auto& layer : l.model.layers) {
    for (const Weight* w : {&layer.wq, &layer.wqkv, &layer.w_up, &layer.w_down}) {
      if (w->present()) types[fmt::format("{}:{}", w->type_name(), kernel_name(*w))]++;
    }
  }
  std::string type_list;
  for (const auto& [k, v] : types) type_list += (type_list.empty() ? "" : ", ") + k;
  fmt::print(stderr, "model: {} ({}; {} layers, n_embd {}, {} heads / {} kv, vocab {}; weights {:.1f} MB: {}; loaded in {:.2f} s)\n",
             l.model.path, hp.arch_name, hp.n_layer, hp.n_embd, hp.n_head, hp.n_head_kv, hp.n_vocab,
             static_cast<double>(l.model.weight_bytes()) / 1e6, type_list, l.seconds);
}

void run_check(RunFlags& f) {
  Loaded a = load(f.model, f.lora), b = load(f.check, f.check_lora);
  if (f.verbose) {
    print_model_summary(a);
    print_model_summary(b);
  }
  std::vector<int32_t> tokens = a.tok->encode(f.prompt, !f.no_bos, !f.no_special);
  const auto tokens_b = b.tok->encode(f.prompt, !f.no_bos, !f.no_special);
  if (tokens != tokens_b) {
    fmt::print(stderr, "warning: the two tokenizers disagree on the prompt ({} vs {} tokens); using {}'s\n", tokens.size(),
               tokens_b.size(), f.model);
  }
  if (tokens.empty() && a.tok->bos() >= 0) tokens.push_back(a.tok->bos());
  fit_prompt(f, a.model, tokens, static_cast<size_t>(std::max(0, f.n_predict)));
  // Extend the prompt with the first model's greedy continuation so later positions are checked too.
  Forward fa = make_forward(f, a.model, context_size(f, a.model, tokens.size() + f.n_predict), f.device);
  if (f.n_predict > 0) {
    GenerateOptions g;
    g.max_new_tokens = f.n_predict;
    g.sampling.temperature = 0;
    g.echo_prompt = false;
    const auto r = generate_tokens(fa, *a.tok, tokens, g, nullptr);
    tokens.insert(tokens.end(), r.tokens.begin(), r.tokens.end());
  }
  Forward fb = make_forward(f, b.model, static_cast<uint32_t>(tokens.size()), f.check_device.empty() ? f.device : f.check_device);
  const AgreementReport r = check_agreement(fa, fb, tokens);  // fa's context already holds all the tokens
  if (f.json) {
    const nlohmann::ordered_json j = {{"a", f.model},
                                      {"b", f.check},
                                      {"a_device", fa.backend().name()},
                                      {"b_device", fb.backend().name()},
                                      {"positions", r.positions.size()},
                                      {"top1_agreement", r.top1_agreement},
                                      {"mean_kl", r.mean_kl},
                                      {"max_kl", r.max_kl},
                                      {"max_abs_diff", r.max_abs_diff}};
    fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  } else {
    fmt::print("checking {} against {} on {} positions ({} prompt + greedy continuation)\n", f.check, f.model,
               r.positions.size(), tokens.size() - static_cast<size_t>(std::max(0, f.n_predict)));
    if (f.verbose) {
      fmt::print("{:>5} {:>8} {:>12} {:>12} {:>8} {:>8}\n", "pos", "token", "max|diff|", "KL", "top1 a", "top1 b");
      for (size_t i = 0; i < r.positions.size(); ++i) {
        const auto& p = r.positions[i];
        fmt::print("{:>5} {:>8} {:>12.4e} {:>12.4e} {:>8} {:>8}{}\n", i, tokens[i], p.max_abs_diff, p.kl, p.top1_a, p.top1_b,
                   p.top1_equal ? "" : "  <- differs");
      }
    }
    fmt::print("top-1 agreement {:.2f}% | KL mean {:.3e} max {:.3e} nats | max |logit diff| {:.3e}\n",
               100.0 * r.top1_agreement, r.mean_kl, r.max_kl, r.max_abs_diff);
  }
  if (f.min_top1 >= 0 && r.top1_agreement < f.min_top1) {
    fmt::print(stderr, "ckpt: check failed: top-1 agreement {:.4f} < --min-top1 {:.4f}\n", r.top1_agreement, f.min_top1);
    std::fflush(stdout);
    std::exit(3);
  }
}

// A JSON file given on the command line (--tools, --messages): parsed strictly, errors naming the file.
nlohmann::ordered_json read_json_file(const std::string& path, const std::string& flag, bool want_array) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::Io, path, Error::kNoOffset, flag, "cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::BadJson, path, e.byte > 0 ? e.byte - 1 : 0, flag, "is not valid JSON");
  } catch (const nlohmann::json::exception&) {  // a number out of range
    throw Error(ErrorCode::BadJson, path, Error::kNoOffset, flag, "is not valid JSON (a number out of range)");
  }
  if (want_array && !j.is_array()) throw Error(ErrorCode::BadJson, path, 0, flag, "must be a JSON array");
  return j;
}

// The conversation before the user's turn: --system, then --messages FILE (as apply_chat_template takes
// it: roles system/user/assistant/tool, tool_calls).
nlohmann::ordered_json chat_history(const RunFlags& f) {
  nlohmann::ordered_json messages = f.messages_file.empty() ? nlohmann::ordered_json::array() : read_json_file(f.messages_file, "--messages", true);
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      throw Error(ErrorCode::BadJson, f.messages_file, Error::kNoOffset, "--messages", "every message needs a string \"role\"");
    }
  }
  if (!f.system.empty()) messages.insert(messages.begin(), nlohmann::ordered_json{{"role", "system"}, {"content", f.system}});
  return messages;
}

// The model's chat template (or --chat-template FILE) rendered by the Jinja interpreter as
// apply_chat_template does; BOS text at the start is left to the tokenizer, which adds BOS itself.
std::string chat_prompt(const RunFlags& f, const Loaded& l, const nlohmann::ordered_json& messages) {
  std::string tmpl = l.model.vocab.chat_template, origin = f.model;
  if (!f.chat_template_file.empty()) {
    std::ifstream in(f.chat_template_file, std::ios::binary);
    if (!in) throw Error(ErrorCode::Io, f.chat_template_file, Error::kNoOffset, "--chat-template", "cannot be read");
    std::stringstream text;
    text << in.rdbuf();
    tmpl = text.str();
    origin = f.chat_template_file;
  }
  if (tmpl.empty()) {
    throw Error(ErrorCode::NotFound, f.model, Error::kNoOffset, "chat_template",
                "the model has no chat template (tokenizer.chat_template / tokenizer_config.json): pass --chat-template FILE");
  }
  nlohmann::ordered_json context = {{"messages", messages}, {"add_generation_prompt", true}};
  if (!f.tools_file.empty()) context["tools"] = read_json_file(f.tools_file, "--tools", /*want_array=*/true);
  return render_chat_prompt(l.model.vocab, tmpl, std::move(context), origin, f.gen.add_special);
}

void run_generate(RunFlags& f) {
  Loaded l = load(f.model, f.lora);
  const unsigned threads = bounded_thread_count(f.threads);
  if (f.verbose) print_model_summary(l);
  auto& g = f.gen;
  g.add_special = !f.no_bos;
  g.parse_special = !f.no_special;
  g.echo_prompt = !f.no_echo;
  g.stop_at_eos = !f.ignore_eos;
  if (f.greedy) g.sampling.temperature = 0;
  const uint64_t seed = seed_of(f);
  if (f.chat) {
    nlohmann::ordered_json messages = chat_history(f);
    // With --messages and no -p the conversation is rendered as it is (say, ending in a tool result).
    if (!f.prompt.empty() || f.messages_file.empty()) messages.push_back({{"role", "user"}, {"content", f.prompt}});
    f.prompt = chat_prompt(f, l, messages);
  }
  auto prompt_tokens = l.tok->encode(f.prompt, g.add_special, g.parse_special);
  fit_prompt(f, l.model, prompt_tokens, 1);
  Forward forward = make_forward(
      f, l.model,
      until_context_full(f) ? context_limit(f, l.model) : context_size(f, l.model, prompt_tokens.size() + static_cast<size_t>(std::max(1, f.n_predict))),
      f.device);
  for (int s = 0; s < f.n_seq; ++s) {
    g.sampling.seed = seed + static_cast<uint64_t>(s);
    if (f.n_seq > 1 && !f.json) fmt::print("--- sequence {} ---\n", s + 1);
    const auto r = generate_tokens(forward, *l.tok, prompt_tokens, g, [raw = f.raw, json = f.json](std::string_view piece) {
      if (json) return;  // one JSON object per sequence at its end instead
      const std::string text = displayable(piece, raw);
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    });
    if (f.json) {
      const double gen_tps = r.tokens.size() > 1 && r.generate_seconds > 0 ? static_cast<double>(r.tokens.size() - 1) / r.generate_seconds : 0;
      const nlohmann::ordered_json j = {
          {"model", f.model},
          {"sequence", s + 1},
          {"seed", g.sampling.seed},
          {"prompt", f.prompt},
          {"text", r.text},
          {"prompt_ids", r.prompt_tokens},
          {"ids", r.tokens},
          {"stop_reason", r.stop_reason},
          {"timings", {{"load_seconds", l.seconds}, {"prompt_seconds", r.prompt_seconds}, {"first_token_seconds", r.first_token_seconds},
                       {"generate_seconds", r.generate_seconds}, {"generate_tokens_per_second", gen_tps}}},
          {"n_ctx", forward.n_ctx()},
          {"device", forward.backend().name()}};
      // Text from a model may hold invalid UTF-8 mid-character: replaced, never a thrown dump.
      fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    } else {
      fmt::print("\n");
    }
    std::fflush(stdout);  // the text ends before the statistics on stderr begin
    if (r.stop_reason == "context") {
      fmt::print(stderr, "note: generation stopped after {} tokens: the context of {} positions is full (raise --ctx-size)\n", r.tokens.size(),
                 forward.n_ctx());
    }
    if (f.print_ids) {
      fmt::print(stderr, "prompt ids: [{}]\ngenerated ids: [{}]\n", fmt::join(r.prompt_tokens, ","), fmt::join(r.tokens, ","));
    }
    if (f.verbose) {
      const double gen_tps = r.tokens.size() > 1 && r.generate_seconds > 0 ? static_cast<double>(r.tokens.size() - 1) / r.generate_seconds : 0;
      fmt::print(stderr,
                 "prompt: {} tokens in {:.3f} s ({:.1f} tok/s) | time to first token {:.3f} s | generated {} tokens, "
                 "{:.1f} tok/s | stop: {} | threads {} | seed {}\n",
                 r.prompt_tokens.size(), r.prompt_seconds,
                 r.prompt_seconds > 0 ? static_cast<double>(r.prompt_tokens.size()) / r.prompt_seconds : 0.0,
                 r.first_token_seconds, r.tokens.size(), gen_tps, r.stop_reason, threads, g.sampling.seed);
    }
  }
}

// `run -i`: a multi-turn chat on stdin. Each turn renders the whole conversation with the chat template
// and evaluates only what the KV cache does not already hold (the common token prefix is kept).
void run_interactive(RunFlags& f) {
  Loaded l = load(f.model, f.lora);
  auto& g = f.gen;
  g.add_special = !f.no_bos;
  g.parse_special = true;
  g.echo_prompt = false;
  g.stop_at_eos = true;
  if (f.greedy) g.sampling.temperature = 0;
  g.sampling.seed = seed_of(f);
  Forward forward = make_forward(f, l.model, context_limit(f, l.model), f.device);
  nlohmann::ordered_json messages = chat_history(f);
  std::vector<int32_t> cached;  // the tokens whose keys and values the cache holds, in order
  const bool terminal = ProgressBar::stderr_is_terminal();
  std::string line;
  while (true) {
    if (terminal) fmt::print(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const auto tokens = l.tok->encode(chat_prompt(f, l, messages), g.add_special, g.parse_special);
    if (tokens.size() + static_cast<size_t>(std::max(1, f.n_predict)) > forward.n_ctx()) {
      throw Error(ErrorCode::InvalidArgument, f.model, Error::kNoOffset, "conversation",
                  fmt::format("{} tokens no longer fit the context of {} positions (raise --ctx-size)", tokens.size(), forward.n_ctx()));
    }
    size_t common = 0;
    while (common < cached.size() && common < tokens.size() && cached[common] == tokens[common]) ++common;
    g.reuse_prefix = common;
    const auto r = generate_tokens(forward, *l.tok, tokens, g, [raw = f.raw](std::string_view piece) {
      fmt::print("{}", displayable(piece, raw));
      std::fflush(stdout);
    });
    fmt::print("\n");
    std::fflush(stdout);
    cached = tokens;
    cached.insert(cached.end(), r.tokens.begin(), r.tokens.end());
    cached.resize(std::min<size_t>(cached.size(), forward.n_past()));
    messages.push_back({{"role", "assistant"}, {"content", r.text}});
  }
}

}  // namespace


namespace {

// `run`, and `chat` (= run -i: a multi-turn session with the model's chat template), share every flag.
void add_generation_command(CLI::App& app, bool chat) {
  auto f = std::make_shared<RunFlags>();
  auto& s = f->gen.sampling;
  CLI::App* cmd = chat ? app.add_subcommand("chat", "Chat with a model: one user turn per line on stdin, its chat template, the KV cache kept (= run -i)")
                       : app.add_subcommand("run", "Generate text from a GGUF or HF checkpoint directory (CPU or CUDA), or --check two models' (or two devices') agreement");
  cmd->add_option("model", f->model, "Model: .gguf (first shard of a split set) or an HF directory")->required();
  cmd->add_option("-p,--prompt", f->prompt, "Prompt text (empty: start from BOS); escapes \\n \\t \\r \\' \\\" \\\\ \\xHH processed as llama-cli does");
  cmd->add_option("-f,--file", f->prompt_file, "Read the prompt from this file (- : stdin); one trailing newline is dropped, as llama-cli does")
      ->excludes("--prompt");
  cmd->add_option("-n,--max-new-tokens,--max_new_tokens,--n-predict", f->n_predict,
                  "Tokens to generate (-1: until end of generation or a full context; with --check: greedy tokens appended to the prompt)")
      ->default_val(64)->check(CLI::Range(-1, 1 << 20));
  cmd->add_flag("--no-escape", f->no_escape, "Take -p, -f and --stop text literally (no escape processing)");
  add_sampling_flags(cmd, s);
  cmd->add_flag("--greedy", f->greedy, "Same as --temp 0");
  cmd->add_option("-s,--seed", f->seed, "Random seed (-1, the default: a random one, printed with --verbose)")->check(CLI::Range(int64_t{-1}, INT64_MAX));
  cmd->add_option("--stop", f->gen.stop, "Stop before this string (repeatable)");
  cmd->add_flag("--chat", f->chat, "Wrap the prompt as a user turn with the model's chat template (a Jinja interpreter, as apply_chat_template)");
  cmd->add_option("--system", f->system, "With --chat or -i: a system message first");
  cmd->add_option("--chat-template", f->chat_template_file, "With --chat or -i: render this Jinja chat template instead of the model's");
  cmd->add_flag("-i,--interactive", f->interactive, "A multi-turn chat: one user turn per line on stdin, the KV cache kept between turns");
  cmd->add_option("--tools", f->tools_file, "With --chat or -i: a JSON array of tool definitions passed to the template as `tools`");
  cmd->add_option("--messages", f->messages_file, "With --chat or -i: a JSON array of earlier messages (system/user/assistant/tool) before -p");
  cmd->add_option("--n-seq", f->n_seq, "Generate this many sequences from the same prompt (seeds seed, seed+1, ...)")->default_val(1)->check(CLI::Range(1, 1000));
  cmd->add_option("-t,--threads", f->threads, "Threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  add_device_option(cmd, "--device", f->device, "Where to compute")->default_val("auto");
  add_device_option(cmd, "--check-device", f->check_device,
                    "With --check: where the second model runs (default: --device); without --check: compare MODEL on --device with itself here");
  cmd->add_option("--kv-type", f->kv_type, "KV cache element type: f16 (half the memory) or f32")
      ->default_val("f16")->check(CLI::IsMember({"f16", "f32"}));
  cmd->add_option("-c,--ctx-size", f->ctx, "Context size (default: the model's, at most 4096)")->check(CLI::Range(1u, 1u << 20));
  cmd->add_flag("--no-bos", f->no_bos, "Do not add BOS/EOS the vocabulary asks for");
  cmd->add_flag("--no-special", f->no_special, "Spell out special-token text in the prompt instead of parsing it");
  cmd->add_flag("--ignore-eos", f->ignore_eos, "Keep generating past end-of-generation tokens");
  cmd->add_flag("--no-echo", f->no_echo, "Do not print the prompt before the generated text");
  cmd->add_flag("--print-ids", f->print_ids, "Print prompt and generated token ids to stderr");
  cmd->add_flag("-v,--verbose", f->verbose, "Model summary, tokens/s and time to first token on stderr");
  cmd->add_option("--lora", f->lora, "Apply a LoRA/DoRA adapter at run time: PEFT directory, GGUF LoRA, ARCHIVE.ckpt:NAME or the NAME of one inside the model archive; optionally :SCALE (repeatable)");
  cmd->add_option("--check", f->check, "Compare logits with this second model (HF dir vs GGUF, f16 vs q4_k, base+adapter vs merged, ...)");
  cmd->add_option("--check-lora", f->check_lora, "Adapters applied to the --check model (PATH[:SCALE], repeatable)")->needs("--check");
  cmd->add_option("--min-top1", f->min_top1, "With --check: exit 3 when top-1 agreement is below this fraction")->check(kFinite)->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--json", f->json, "One JSON line per sequence (text, prompt and generated ids, stop reason, timings, seed); with --check the agreement");
  cmd->add_flag("--raw", f->raw, "Print generated text byte for byte (control characters are escaped by default)");
  cmd->add_flag("--truncate-prompt", f->truncate_prompt, "Keep the last tokens of a prompt longer than the context instead of failing");
  cmd->add_flag("--reference-kernels", f->reference_kernels, "Use the scalar reference dot products (slow; for debugging)");
  cmd->callback([f, chat] {
    if (chat) f->interactive = true;
    if (!f->prompt_file.empty()) {
      std::stringstream ss;
      if (f->prompt_file == "-") {
        ss << std::cin.rdbuf();
      } else {
        std::ifstream in(f->prompt_file, std::ios::binary);
        if (!in) throw Error(ErrorCode::Io, f->prompt_file, Error::kNoOffset, "prompt", "cannot open the prompt file");
        ss << in.rdbuf();
      }
      f->prompt = ss.str();
      if (f->prompt.ends_with('\n')) f->prompt.pop_back();
    }
    if (!f->no_escape) {
      process_escapes(f->prompt);
      for (auto& stop : f->gen.stop) process_escapes(stop);
    }
    if (!f->system.empty() && !f->chat && !f->interactive) throw CLI::ValidationError("--system", "needs --chat or -i");
    if (!f->chat_template_file.empty() && !f->chat && !f->interactive) throw CLI::ValidationError("--chat-template", "needs --chat or -i");
    if (!f->tools_file.empty() && !f->chat && !f->interactive) throw CLI::ValidationError("--tools", "needs --chat or -i");
    if (!f->messages_file.empty() && !f->chat && !f->interactive) throw CLI::ValidationError("--messages", "needs --chat or -i");
    if (f->reference_kernels) set_kernel_choice(KernelChoice::Reference);
    if (!f->check_device.empty() && f->check.empty()) {  // the same model on two devices
      if (f->interactive) throw CLI::ValidationError("--check-device", "does not apply to -i / chat");
      f->check = f->model;
      f->check_lora = f->lora;
    }
    if (until_context_full(*f) && !f->check.empty()) throw CLI::ValidationError("-n", "-1 (until the context is full) does not apply to --check");
    f->gen.max_new_tokens = until_context_full(*f) ? INT_MAX : f->n_predict;
    if (!f->check.empty()) {
      run_check(*f);
    } else if (f->interactive) {
      run_interactive(*f);
    } else {
      run_generate(*f);
    }
  });
}

}  // namespace

void add_run_command(CLI::App& app) {
  add_generation_command(app, false);
  add_generation_command(app, true);
}

}  // namespace ckpt::cli
