// The `ckpt` command line. Holds the subcommand registry and the program's only try/catch: a file
// error prints one line naming file, offset and field (exit 1); a bad flag prints one line (exit 2).
#include <cstdio>
#include <exception>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "formats/error.h"
#include "runtime/runtime.h"
#include "formats/signal_cleanup.h"
#include "inspect/cli/commands.h"
#include "usage_errors.h"  // beside this file (the CLI's own, not a library header)

#ifndef CKPT_VERSION
#define CKPT_VERSION "unknown"
#endif
#ifndef CKPT_COMMIT
#define CKPT_COMMIT "unknown"
#endif
#ifndef CKPT_COMPILER
#define CKPT_COMPILER "unknown"
#endif

int main(int argc, char** argv) {
  CLI::App app{"ckpt: convert, quantize, inspect and run LLM checkpoints (GGUF, safetensors)"};
  app.name("ckpt");
  // The version first (scripts compare it), then what a bug report needs.
  app.set_version_flag("--version", [] {
    return fmt::format("{}\ncommit {}, built with {}\nCPU kernels: {}", CKPT_VERSION, CKPT_COMMIT, CKPT_COMPILER, ckpt::runtime::cpu_kernels_summary());
  });
  app.require_subcommand(1);
  ckpt::cli::add_inspect_command(app);
  ckpt::cli::add_convert_command(app);
  ckpt::cli::add_quantize_command(app);
  ckpt::cli::add_merge_command(app);
  ckpt::cli::add_run_command(app);
  ckpt::cli::add_data_command(app);
  ckpt::cli::add_eval_command(app);
  ckpt::cli::add_finetune_command(app);
  ckpt::cli::add_verify_command(app);
  ckpt::cli::add_sign_command(app);
  ckpt::cli::add_diff_command(app);
  ckpt::cli::add_hash_command(app);
  ckpt::cli::add_adapter_command(app);
  ckpt::cli::add_help_command(app);
  // Temporaries go on SIGINT/SIGTERM/SIGHUP; a truncated input becomes an error line, not SIGBUS.
  ckpt::install_signal_cleanup();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "ckpt: {}\n", ckpt::cli::usage_error_message(app, e, argc, argv));
    return 2;
  } catch (const ckpt::Error& e) {
    fmt::print(stderr, "ckpt: error: {}\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    // Name the path and the reason, not the library's "filesystem error: ..." text.
    const std::string path = e.path1().empty() ? std::string("file system") : ckpt::escape_for_display(e.path1().string());
    fmt::print(stderr, "ckpt: error: {}: {}\n", path, e.code().message());
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
