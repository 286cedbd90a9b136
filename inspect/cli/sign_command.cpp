// `ckpt sign FILE.ckpt --key KEY.pem`: an Ed25519 signature over the archive's manifest (which covers
// every tensor, every section and the index), written into the file's tail through a temporary.
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/ckpt_archive_sign.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

void add_sign_command(CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto key = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("sign", "Sign a .ckpt archive's manifest with an Ed25519 key (openssl genpkey -algorithm ed25519)");
  cmd->add_option("file", *file, ".ckpt archive")->required();
  cmd->add_option("--key", *key, "Ed25519 private key (PEM)")->required();
  cmd->add_flag("--json", *json, "Print {file, manifest_sha256, key_sha256} as JSON");
  cmd->callback([file, key, json] {
    sign_ckpt_archive(*file, *key);
    const CkptArchive a = read_ckpt_archive(*file);
    const CkptSignatureCheck c = check_ckpt_signature(a, "");
    if (*json) {
      const nlohmann::ordered_json j = {{"file", *file}, {"signed", true}, {"manifest_sha256", to_hex(a.manifest)}, {"key_sha256", c.key_sha256}};
      fmt::print("{}\n", j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      return;
    }
    if (!quiet_output()) fmt::print("{}: signed manifest {} with Ed25519 key {}\n", *file, to_hex(a.manifest), c.key_sha256);
  });
}

}  // namespace ckpt::cli
