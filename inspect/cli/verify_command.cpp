// `ckpt verify FILE... [--pubkey PUB.pem]`: checks .ckpt archives against their own digests: the
// trailer and index CRC32 on open, then every tensor's and section's SHA-256 (tensors hashed on all
// cores), and the Ed25519 signature over the manifest when there is one (required, and by that key, with
// --pubkey). Names each corrupt tensor or section; exit 1 when anything fails.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/ckpt_archive.h"
#include "formats/ckpt_archive_adapters.h"
#include "formats/ckpt_archive_sign.h"
#include "formats/error.h"
#include "formats/file_digests.h"
#include "formats/tensor_manifest.h"
#include "formats/parallel.h"
#include "inspect/cli/commands.h"

namespace ckpt::cli {

void add_verify_command(CLI::App& app) {
  auto paths = std::make_shared<std::vector<std::string>>();
  auto threads = std::make_shared<unsigned>(0);
  auto pubkey = std::make_shared<std::string>();
  auto manifest = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("verify", "Check .ckpt archives (every tensor's SHA-256, index, signature), or other models against SHA256SUMS / HF cache blob names / LFS pointers");
  cmd->add_option("files", *paths, ".ckpt archives, model files or directories")->required();
  cmd->add_option("-t,--threads", *threads, "Hashing threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  cmd->add_option("--pubkey", *pubkey, "Require a valid signature by this Ed25519 public key (PEM)");
  cmd->add_option("--manifest", *manifest, "Other formats: the per-tensor manifest `ckpt hash` wrote (default: beside the model, when there)");
  cmd->add_flag("--json", *json, "One JSON object: per file, what was checked and what failed (the exit status as without it)");
  cmd->callback([paths, threads, pubkey, manifest, json] {
    size_t bad_files = 0;
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    // Text lines as the checks go; with --json they are collected into the file's result instead.
    nlohmann::ordered_json* current = nullptr;
    auto say = [&](const std::string& line) {
      if (*json) {
        (*current)["findings"].push_back(line);
      } else {
        fmt::print("{}\n", line);
      }
    };
    for (const auto& path : *paths) {
      const auto start = std::chrono::steady_clock::now();
      results.push_back({{"path", path}, {"ok", true}, {"findings", nlohmann::ordered_json::array()}});
      current = &results.back();
      try {
        if (!is_ckpt_archive_path(path)) {  // other formats: a tensor manifest, SHA256SUMS, HF cache blob names, LFS pointers
          size_t bad = 0;
          bool checked_any = false;
          const std::string m = manifest->empty() ? default_tensor_manifest_path(path) : *manifest;
          std::error_code ec;
          if (!manifest->empty() || std::filesystem::exists(m, ec)) {
            const TensorManifestCheck t = check_tensor_manifest(path, m, bounded_thread_count(*threads));
            for (const auto& n : t.changed) say(fmt::format("{}: tensor '{}': changed since {} (SHA-256, dtype or shape)", path, n, m));
            for (const auto& n : t.missing) say(fmt::format("{}: tensor '{}': missing (listed in {})", path, n, m));
            for (const auto& n : t.extra) say(fmt::format("{}: tensor '{}': not in {}", path, n, m));
            if (t.ok()) say(fmt::format("{}: OK: {} tensors match {}", path, t.checked, m));
            bad += !t.ok();
            checked_any = true;
          }
          std::vector<FileDigestCheck> checks;
          try {
            checks = check_file_digests(path, bounded_thread_count(*threads));
          } catch (const Error& e) {
            if (e.code() != ErrorCode::NotFound || !checked_any) throw;
          }
          for (const auto& c : checks) {
            if (c.ok) {
              say(fmt::format("{}: OK ({} {})", c.file, c.source, c.expected));
            } else {
              ++bad;
              say(fmt::format("{}: {} ({} says {}{})", c.file, c.problem, c.source, c.expected, c.actual.empty() ? "" : ", file is " + c.actual));
            }
          }
          (*current)["kind"] = "digests";
          (*current)["ok"] = bad == 0;
          if (bad) ++bad_files;
          continue;
        }
        const CkptArchive a = read_ckpt_archive(path);  // trailer, index CRC32, every length: a damaged index stops here
        const CkptVerifyReport r = verify_ckpt_archive(a, bounded_thread_count(*threads));
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        for (const auto& name : r.bad_tensors) {
          const CkptTensor* t = a.find_tensor(name);
          say(fmt::format("{}: tensor '{}' (offset {}, {} bytes): SHA-256 mismatch", path, name, t->offset, t->length));
        }
        for (const auto& name : r.bad_sections) say(fmt::format("{}: section '{}': SHA-256 mismatch", path, name));
        // Each adapter must be bound to the tensors this archive holds (else run and merge refuse it).
        size_t adapters = 0, unbound = 0;
        try {
          for (const auto& x : ckpt_archive_adapters(a)) {
            ++adapters;
            const size_t differ = ckpt_binding_differences(x.base, a).size();
            if (differ) {
              ++unbound;
              say(fmt::format("{}: adapter '{}': bound to other base tensors ({} of {} differ): built for a different base", path, x.name, differ, x.base.tensors.size()));
            }
          }
        } catch (const Error& e) {
          ++unbound;
          say(fmt::format("{}: {}", path, e.what()));
        }
        // The signature covers the manifest, so it is checked whatever the data said.
        const CkptSignatureCheck sig = check_ckpt_signature(a, *pubkey);
        std::string signature = "unsigned";
        bool sig_ok = pubkey->empty();  // unsigned passes unless a key is required
        if (sig.signed_) {
          signature = fmt::format("Ed25519 signature by key {} {}", sig.key_sha256, sig.valid ? "valid" : "INVALID");
          if (!pubkey->empty()) signature += sig.key_matches ? " (the given --pubkey)" : " (NOT the given --pubkey)";
          sig_ok = sig.valid && (pubkey->empty() || sig.key_matches);
        }
        if (!sig_ok) say(fmt::format("{}: {}", path, sig.signed_ ? signature : "not signed, but --pubkey requires a signature"));
        (*current)["kind"] = "ckpt-archive";
        (*current)["ok"] = r.ok() && sig_ok && unbound == 0;
        (*current)["tensors"] = a.tensors.size();
        (*current)["sections"] = a.sections.size();
        (*current)["bytes_hashed"] = r.bytes_hashed;
        (*current)["seconds"] = secs;
        (*current)["manifest"] = to_hex(a.manifest);
        (*current)["bad_tensors"] = r.bad_tensors;
        (*current)["bad_sections"] = r.bad_sections;
        (*current)["adapters"] = adapters;
        (*current)["adapters_bound_elsewhere"] = unbound;
        (*current)["signature"] = {{"signed", sig.signed_}, {"valid", sig.valid}, {"key_sha256", sig.key_sha256},
                                   {"key_matches", pubkey->empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(sig.key_matches)}};
        if (!r.ok() || !sig_ok || unbound) {
          ++bad_files;
          continue;
        }
        say(fmt::format("{}: OK: {} tensors and {} sections match their SHA-256 ({:.1f} MB in {:.2f} s, {:.0f} MB/s){}; manifest {}; {}", path,
                   a.tensors.size(), a.sections.size(), static_cast<double>(r.bytes_hashed) / 1e6, secs,
                   secs > 0 ? static_cast<double>(r.bytes_hashed) / 1e6 / secs : 0.0,
                   adapters ? fmt::format("; {} adapter{} bound to these tensors", adapters, adapters == 1 ? "" : "s") : std::string(), to_hex(a.manifest), signature));
      } catch (const Error& e) {
        if (!*json) throw;  // text: the one-line error as for any command
        (*current)["ok"] = false;
        (*current)["error"] = {{"code", std::string(error_code_name(e.code()))}, {"file", e.file()}, {"field", e.field()}, {"message", e.detail()}};
        ++bad_files;
      }
    }
    if (*json) {
      fmt::print("{}\n", nlohmann::ordered_json{{"results", results}}.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
      std::fflush(stdout);
    }
    if (bad_files) {
      throw Error(ErrorCode::BadChecksum, paths->size() == 1 ? paths->front() : std::string(), Error::kNoOffset, "verify",
                  *json ? fmt::format("{} of {} files failed (see their results in the JSON)", bad_files, paths->size())
                        : fmt::format("{} of {} files are corrupt (listed above)", bad_files, paths->size()));
    }
  });
}

}  // namespace ckpt::cli
