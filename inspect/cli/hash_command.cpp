// `ckpt hash MODEL [-o MANIFEST]`: a per-tensor SHA-256 manifest of any model, which `ckpt verify MODEL`
// then checks (naming the tensor that changed).
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/output_guard.h"
#include "formats/parallel.h"
#include "formats/tensor_manifest.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

void add_hash_command(CLI::App& app) {
  struct Flags {
    std::string model, output;
    unsigned threads = 0;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("hash", "Write a per-tensor SHA-256 manifest of a model (any format) for ckpt verify");
  cmd->add_option("model", f->model, "Model file or directory")->required();
  cmd->add_option("-o,--output", f->output, "Manifest path (default: MODEL.sha256.json, or DIR/tensors.sha256.json)");
  cmd->add_option("-t,--threads", f->threads, "Hashing threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  cmd->add_flag("--json", f->json, "Print {model, manifest, tensors} as JSON");
  cmd->callback([f] {
    const std::string out = f->output.empty() ? default_tensor_manifest_path(f->model) : f->output;
    check_output_path(out, {f->model}, /*output_is_directory=*/false);
    const size_t n = write_tensor_manifest(f->model, out, bounded_thread_count(f->threads));
    if (f->json) {
      const nlohmann::ordered_json j = {{"model", f->model}, {"manifest", out}, {"tensors", n}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
    if (!quiet_output()) fmt::print("wrote {} ({} tensors)\n", out, n);
  });
}

}  // namespace ckpt::cli
