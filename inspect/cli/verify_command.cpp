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
  CLI::App* cmd = app.add_subcommand("verify", "Check .ckpt archives (every tensor's SHA-256, index, signature), or other models against SHA256SUMS / HF cache blob names / LFS pointers");
  cmd->add_option("files", *paths, ".ckpt archives, model files or directories")->required();
  cmd->add_option("-t,--threads", *threads, "Hashing threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  cmd->add_option("--pubkey", *pubkey, "Require a valid signature by this Ed25519 public key (PEM)");
  cmd->add_option("--manifest", *manifest, "Other formats: the per-tensor manifest `ckpt hash` wrote (default: beside the model, when there)");
  cmd->callback([paths, threads, pubkey, manifest] {
    size_t bad_files = 0;
    for (const auto& path : *paths) {
      const auto start = std::chrono::steady_clock::now();
      if (!is_ckpt_archive_path(path)) {  // other formats: a tensor manifest, SHA256SUMS, HF cache blob names, LFS pointers
        size_t bad = 0;
        bool checked_any = false;
        const std::string m = manifest->empty() ? default_tensor_manifest_path(path) : *manifest;
        std::error_code ec;
        if (!manifest->empty() || std::filesystem::exists(m, ec)) {
          const TensorManifestCheck t = check_tensor_manifest(path, m, bounded_thread_count(*threads));
          for (const auto& n : t.changed) fmt::print("{}: tensor '{}': changed since {} (SHA-256, dtype or shape)\n", path, n, m);
          for (const auto& n : t.missing) fmt::print("{}: tensor '{}': missing (listed in {})\n", path, n, m);
          for (const auto& n : t.extra) fmt::print("{}: tensor '{}': not in {}\n", path, n, m);
          if (t.ok()) fmt::print("{}: OK: {} tensors match {}\n", path, t.checked, m);
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
            fmt::print("{}: OK ({} {})\n", c.file, c.source, c.expected);
          } else {
            ++bad;
            fmt::print("{}: {} ({} says {}{})\n", c.file, c.problem, c.source, c.expected, c.actual.empty() ? "" : ", file is " + c.actual);
          }
        }
        if (bad) ++bad_files;
        continue;
      }
      const CkptArchive a = read_ckpt_archive(path);  // trailer, index CRC32, every length: a damaged index stops here
      const CkptVerifyReport r = verify_ckpt_archive(a, bounded_thread_count(*threads));
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      for (const auto& name : r.bad_tensors) {
        const CkptTensor* t = a.find_tensor(name);
        fmt::print("{}: tensor '{}' (offset {}, {} bytes): SHA-256 mismatch\n", path, name, t->offset, t->length);
      }
      for (const auto& name : r.bad_sections) fmt::print("{}: section '{}': SHA-256 mismatch\n", path, name);
      // Each adapter must be bound to the tensors this archive holds (else run and merge refuse it).
      size_t adapters = 0, unbound = 0;
      try {
        for (const auto& x : ckpt_archive_adapters(a)) {
          ++adapters;
          const size_t differ = ckpt_binding_differences(x.base, a);
          if (differ) {
            ++unbound;
            fmt::print("{}: adapter '{}': bound to other base tensors ({} of {} differ): built for a different base\n", path, x.name, differ, x.base.tensors.size());
          }
        }
      } catch (const Error& e) {
        ++unbound;
        fmt::print("{}: {}\n", path, e.what());
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
      if (!sig_ok) fmt::print("{}: {}\n", path, sig.signed_ ? signature : "not signed, but --pubkey requires a signature");
      if (!r.ok() || !sig_ok || unbound) {
        ++bad_files;
        continue;
      }
      fmt::print("{}: OK: {} tensors and {} sections match their SHA-256 ({:.1f} MB in {:.2f} s, {:.0f} MB/s){}; manifest {}; {}\n", path,
                 a.tensors.size(), a.sections.size(), static_cast<double>(r.bytes_hashed) / 1e6, secs,
                 secs > 0 ? static_cast<double>(r.bytes_hashed) / 1e6 / secs : 0.0,
                 adapters ? fmt::format("; {} adapter{} bound to these tensors", adapters, adapters == 1 ? "" : "s") : std::string(), to_hex(a.manifest), signature);
    }
    if (bad_files) {
      throw Error(ErrorCode::BadChecksum, paths->size() == 1 ? paths->front() : std::string(), Error::kNoOffset, "verify",
                  fmt::format("{} of {} files are corrupt (listed above)", bad_files, paths->size()));
    }
  });
}

}  // namespace ckpt::cli
