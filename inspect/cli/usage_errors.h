// Usage errors and help: closest-name suggestions for mistyped subcommands and flags, the one-line
// message that points at the right `ckpt SUB --help`, and `ckpt help [SUB...]`.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace ckpt::cli {

// The candidate a typo most likely meant, or "" when none is within a third of the word's length.
std::string closest_name(const std::string& typed, const std::vector<std::string>& candidates);

// "ckpt: " + this is the one line a bad command line prints (exit 2).
std::string usage_error_message(const CLI::App& app, const CLI::ParseError& error, int argc, char** argv);

// --progress auto|always|never and -q/--quiet on every subcommand (and sub-subcommand).
void add_common_flags(CLI::App& app);

// `ckpt help [SUB [SUB2]]`: the help text of ckpt or of that subcommand.
void add_help_command(CLI::App& app);

}  // namespace ckpt::cli
