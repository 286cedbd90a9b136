// `ckpt inspect FILE...`: metadata, tensor table and totals of GGUF / safetensors / HF directories.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "convert/merge.h"
#include "formats/error.h"
#include "inspect/cli/commands.h"
#include "inspect/inspect.h"

namespace ckpt::cli {

namespace {
struct InspectFlags {
  std::vector<std::string> paths;
  bool json = false;
  bool full = false;
  std::string base;
};
}  // namespace

void add_inspect_command(CLI::App& app) {
  auto flags = std::make_shared<InspectFlags>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Show metadata, tensors (name, dtype, shape, offset, bytes) and totals of model files");
  cmd->add_option("paths", flags->paths, "GGUF or safetensors files, model.safetensors.index.json, or HF model directories")
      ->required();
  cmd->add_flag("--json", flags->json, "Print JSON (schema 2: {schema_version, shape_order, results: [one per path, or its error object]})");
  cmd->add_flag("--full", flags->full, "Print whole arrays (e.g. tokenizer vocabularies) instead of a summary");
  cmd->add_option("--base", flags->base, "With an adapter: check that it fits this base model and list every mismatch");
  cmd->callback([flags] {
    if (!flags->base.empty()) {
      size_t bad = 0;
      for (const auto& path : flags->paths) {
        const auto problems = adapter_mismatches(path, flags->base);
        for (const auto& p : problems) fmt::print("{}\n", escape_for_display(p));
        if (problems.empty()) fmt::print("{} fits {}\n", escape_for_display(path), escape_for_display(flags->base));
        bad += problems.size();
      }
      if (bad) throw Error(ErrorCode::BadShape, flags->base, Error::kNoOffset, "adapter", fmt::format("{} module(s) do not fit this base", bad));
      return;
    }
    InspectOptions options;
    options.full = flags->full;
    options.text_only = !flags->json;
    nlohmann::ordered_json all = nlohmann::ordered_json::array();
    size_t failed = 0;
    for (size_t i = 0; i < flags->paths.size(); ++i) {
      if (!flags->json) {
        fmt::print("{}{}", i ? "\n" : "", render_inspect_text(inspect_path(flags->paths[i], options)));
        std::fflush(stdout);
        continue;
      }
      // JSON: a file that cannot be read is a result with an error object; the others still report.
      try {
        all.push_back(render_inspect_json(inspect_path(flags->paths[i], options)));
      } catch (const Error& e) {
        all.push_back(render_inspect_error_json(flags->paths[i], e));
        ++failed;
      }
    }
    if (flags->json) {
      // Invalid UTF-8 in names from a file becomes U+FFFD instead of aborting the dump.
      fmt::print("{}\n", inspect_json_document(std::move(all)).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      std::fflush(stdout);
      if (failed) {
        throw Error(ErrorCode::InvalidArgument, failed == 1 && flags->paths.size() == 1 ? flags->paths[0] : std::string(), Error::kNoOffset, "inspect",
                    fmt::format("{} of {} paths could not be read (their error objects are in the JSON)", failed, flags->paths.size()));
      }
    }
  });
}

}  // namespace ckpt::cli
