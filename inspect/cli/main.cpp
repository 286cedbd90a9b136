// The `ckpt` command line. Holds the subcommand registry and the program's only try/catch: a file
// error prints one line naming file, offset and field (exit 1); a bad flag prints one line (exit 2).
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "formats/error.h"
#include "inspect/cli/commands.h"

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif

int main(int argc, char** argv) {
  CLI::App app{"ckpt: convert, quantize, inspect and run LLM checkpoints (GGUF, safetensors)"};
  app.name("ckpt");
  app.set_version_flag("--version", CKPT_VERSION);
  app.require_subcommand(1);
  ckpt::cli::add_inspect_command(app);
  ckpt::cli::add_convert_command(app);
  ckpt::cli::add_quantize_command(app);
  ckpt::cli::add_run_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "ckpt: {} (see ckpt --help)\n", e.what());
    return 2;
  } catch (const ckpt::Error& e) {
    fmt::print(stderr, "ckpt: error: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "ckpt: error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "ckpt: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
