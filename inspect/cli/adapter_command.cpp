// `ckpt adapter add|rm|ls|extract`: LoRA adapters kept inside a .ckpt archive, each bound to the base
// tensors it modifies; `ckpt merge ARCHIVE NAME` and `ckpt run ARCHIVE --lora NAME` use them.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "convert/ckpt_archive_convert.h"
#include "formats/ckpt_archive_adapters.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

namespace {

void print_change(const ArchiveAdapterReport& r, const char* verb) {
  if (quiet_output()) return;
  for (const auto& out : r.outputs) fmt::print("{}: {} adapter '{}' ({}, {:.2f} MB)\n", out, verb, r.name, r.format, static_cast<double>(r.bytes) / 1e6);
  if (r.signature_dropped) fmt::print("note: the archive's signature covered the old manifest and was removed; sign it again (ckpt sign)\n");
}

void list_adapters(const std::string& archive, bool json) {
  const CkptArchive a = read_ckpt_archive(archive);
  const auto adapters = ckpt_archive_adapters(a);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& x : adapters) {
    const size_t changed = ckpt_binding_differences(x.base, a).size();
    if (json) {
      out.push_back({{"name", x.name},
                     {"format", x.format},
                     {"peft_type", x.peft_type},
                     {"r", x.r},
                     {"lora_alpha", x.lora_alpha},
                     {"target_modules", x.target_modules},
                     {"parameters", x.parameters},
                     {"bytes", x.bytes},
                     {"base_digest", to_hex(x.base.digest())},
                     {"bound_tensors", x.base.tensors.size()},
                     {"bound_to_this_base", changed == 0}});
      continue;
    }
    fmt::print("{:<24} {:<9} r={:<4} alpha={:<6g} {:>10} params {:>9.2f} MB  {} tensors bound ({})  targets: {}\n", x.name, x.format, x.r, x.lora_alpha,
               x.parameters, static_cast<double>(x.bytes) / 1e6, x.base.tensors.size(),
               changed == 0 ? "this base" : fmt::format("{} differ: built for a different base", changed), fmt::join(x.target_modules, ","));
  }
  if (json) {
    fmt::print("{}\n", out.dump(2));
  } else if (adapters.empty()) {
    fmt::print("{}: no adapters (add one with ckpt adapter add {} ADAPTER --name NAME)\n", archive, archive);
  }
}

}  // namespace

void add_adapter_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("adapter", "LoRA adapters inside a .ckpt archive: add, rm, ls, extract");
  cmd->require_subcommand(1);

  auto add = std::make_shared<ArchiveAdapterOptions>();
  CLI::App* a = cmd->add_subcommand("add", "Store a LoRA adapter in the archive, bound to the base tensors it modifies (tensor data is not rewritten)");
  a->add_option("archive", add->archive, ".ckpt archive of the base model")->required();
  a->add_option("adapter", add->adapter, "PEFT directory, GGUF LoRA, or OTHER.ckpt[:NAME]")->required();
  a->add_option("--name", add->name, "Name inside the archive (default: the adapter's directory or file name)");
  a->add_option("-o,--output", add->output, "Write a new archive instead of updating ARCHIVE in place");
  a->add_flag("--replace", add->replace, "Replace an adapter of the same name");
  a->add_flag("--force", add->force, "Bind an adapter taken from another archive to this base even though that base differs");
  a->add_flag("--dry-run", add->dry_run, "Check that the adapter fits and print what would be bound; write nothing");
  a->callback([add] {
    const ArchiveAdapterReport r = add_archive_adapter(*add);
    if (r.rebound) fmt::print("warning: '{}' was built for a different base; --force bound it to this one\n", r.name);
    fmt::print("adapter '{}': {} parameters, bound to {} base tensors (digest {})\n", r.name, r.parameters, r.bound_tensors, r.digest);
    if (!add->dry_run) print_change(r, "added");
  });

  auto rm_archive = std::make_shared<std::string>(), rm_name = std::make_shared<std::string>(), rm_out = std::make_shared<std::string>();
  CLI::App* r = cmd->add_subcommand("rm", "Remove an adapter from the archive");
  r->add_option("archive", *rm_archive, ".ckpt archive")->required();
  r->add_option("name", *rm_name, "Adapter name (ckpt adapter ls)")->required();
  r->add_option("-o,--output", *rm_out, "Write a new archive instead of updating ARCHIVE in place");
  r->callback([rm_archive, rm_name, rm_out] { print_change(remove_archive_adapter(*rm_archive, *rm_name, *rm_out), "removed"); });

  auto ls_archive = std::make_shared<std::string>();
  auto ls_json = std::make_shared<bool>(false);
  CLI::App* l = cmd->add_subcommand("ls", "List the archive's adapters and whether each is bound to the tensors it holds");
  l->add_option("archive", *ls_archive, ".ckpt archive")->required();
  l->add_flag("--json", *ls_json, "A JSON array, one object per adapter");
  l->callback([ls_archive, ls_json] { list_adapters(*ls_archive, *ls_json); });

  auto ex_archive = std::make_shared<std::string>(), ex_name = std::make_shared<std::string>(), ex_out = std::make_shared<std::string>();
  auto ex_force = std::make_shared<bool>(false);
  CLI::App* e = cmd->add_subcommand("extract", "Write an adapter back out as it was added (PEFT directory or GGUF LoRA file)");
  e->add_option("archive", *ex_archive, ".ckpt archive")->required();
  e->add_option("name", *ex_name, "Adapter name")->required();
  e->add_option("-o,--output", *ex_out, "Output directory (PEFT) or .gguf file (GGUF LoRA)")->required();
  e->add_flag("--force", *ex_force, "Replace a non-empty output directory");
  e->callback([ex_archive, ex_name, ex_out, ex_force] {
    for (const auto& f : extract_archive_adapter(*ex_archive, *ex_name, *ex_out, *ex_force)) fmt::print("wrote {}\n", f);
  });
}

}  // namespace ckpt::cli
