// Usage errors as a user can act on them: a mistyped subcommand or flag gets the closest real one
// ("did you mean `inspect`?"), and every message points at the help of the subcommand in use.
#include "usage_errors.h"  // beside this file (the CLI's own, not a library header)

#include <algorithm>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "formats/progress.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// The deepest subcommand the command line selected ("ckpt adapter add").
const CLI::App* selected(const CLI::App& app) {
  const CLI::App* at = &app;
  for (;;) {
    const auto subs = at->get_subcommands();
    if (subs.empty()) return at;
    at = subs.front();
  }
}

std::string command_path(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* a = app; a; a = a->get_parent()) names.push_back(a->get_name());
  std::reverse(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

}  // namespace

std::string closest_name(const std::string& typed, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(typed, c);
    if (d < best_d) best_d = d, best = c;
  }
  // Close enough to be a typo: a third of the word (at least one edit, at most three).
  const size_t allowed = std::clamp<size_t>(typed.size() / 3, 1, 3);
  return best_d <= allowed ? best : std::string();
}

std::string usage_error_message(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  const CLI::App* sub = selected(app);
  std::string message = e.what();
  std::string hint;
  if (sub == &app) {
    // No subcommand selected: the first word that is not a flag was meant to be one.
    for (int i = 1; i < argc; ++i) {
      const std::string word = argv[i];
      if (word.starts_with("-")) continue;
      std::vector<std::string> names;
      for (const CLI::App* s : app.get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
      message = fmt::format("unknown subcommand '{}'", word);
      if (const auto near = closest_name(word, names); !near.empty()) hint = fmt::format("; did you mean `{}`?", near);
      break;
    }
  } else {
    std::vector<std::string> flags;
    for (const CLI::Option* o : sub->get_options()) {
      for (const auto& l : o->get_lnames()) flags.push_back("--" + l);
    }
    for (int i = 1; i < argc; ++i) {
      const std::string word = argv[i];
      if (!word.starts_with("--")) continue;
      const std::string flag = word.substr(0, word.find('='));
      if (std::find(flags.begin(), flags.end(), flag) != flags.end()) continue;
      if (const auto near = closest_name(flag, flags); !near.empty()) {
        hint = fmt::format("; did you mean `{}`?", near);
        break;
      }
    }
  }
  return fmt::format("{}{} (see {} --help)", message, hint, command_path(sub));
}

void add_common_flags(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name() == "help") continue;
    // A repeatable flag takes one value per occurrence (repeat it, or use its comma list), so
    // `run --stop x MODEL` never swallows MODEL as a second stop string.
    for (CLI::Option* o : sub->get_options()) {
      if (!o->get_positional() && o->get_expected_max() > 1) o->allow_extra_args(false);
    }
    sub->add_option_function<std::string>(
           "--progress",
           [](const std::string& v) {
             set_progress_mode(v == "always" ? ProgressMode::Always : v == "never" ? ProgressMode::Never : ProgressMode::Auto);
           },
           "Progress on stderr: auto (on a terminal), always (plain lines off a terminal), never")
        ->check(CLI::IsMember({"auto", "always", "never"}));
    sub->add_flag_callback(
        "-q,--quiet",
        [] {
          set_progress_mode(ProgressMode::Never);
          set_quiet_output(true);
        },
        "No progress and no informational lines (wrote ..., summaries); results, warnings and errors still print");
    add_common_flags(*sub);
  }
}

namespace {
bool g_quiet = false;
}  // namespace

void set_quiet_output(bool quiet) { g_quiet = quiet; }
bool quiet_output() { return g_quiet; }

void add_help_command(CLI::App& app) {
  auto topic = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand("help", "Help on ckpt or on a subcommand: ckpt help SUB [SUB2]");
  cmd->add_option("subcommand", *topic, "Subcommand (and sub-subcommand) to explain");
  cmd->callback([&app, topic] {
    const CLI::App* at = &app;
    for (const auto& name : *topic) {
      CLI::App* next = nullptr;
      try {
        next = at->get_subcommand(name);
      } catch (const CLI::OptionNotFound&) {
      }
      if (!next) {
        std::vector<std::string> names;
        for (const CLI::App* s : at->get_subcommands([](const CLI::App*) { return true; })) names.push_back(s->get_name());
        const auto near = closest_name(name, names);
        throw CLI::ValidationError("help", fmt::format("no subcommand '{}'{}", name, near.empty() ? "" : fmt::format("; did you mean `{}`?", near)));
      }
      at = next;
    }
    fmt::print("{}", at->help());
  });
}

}  // namespace ckpt::cli
