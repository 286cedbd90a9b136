// `ckpt diff A B [--tol T] [--json]`: tensors only in one model, shape/dtype differences, and for
// common tensors max |a - b|, relative error and cosine similarity. Exit 0 when equal within --tol, 3
// when not (1 stays for bad input).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "formats/parallel.h"
#include "inspect/cli/commands.h"
#include "inspect/diff.h"
#include "inspect/inspect.h"

namespace ckpt::cli {

void add_diff_command(CLI::App& app) {
  struct Flags {
    std::string a, b;
    double tol = 0;
    bool json = false, all = false;
    unsigned threads = 0;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand("diff", "Compare two models (any formats): tensors only in one, and per tensor max |a-b|, relative error, cosine");
  cmd->add_option("a", f->a, "First model (file or directory, any format ckpt reads, .ckpt included)")->required();
  cmd->add_option("b", f->b, "Second model")->required();
  cmd->add_option("--tol", f->tol, "Equal when every common tensor's max |a - b| is at most this")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", f->json, "Print JSON");
  cmd->add_flag("--all", f->all, "List identical tensors too");
  cmd->add_option("-t,--threads", f->threads, "Decoding threads (default: all cores)")->check(CLI::Range(1u, 1024u));
  cmd->callback([f] {
    const DiffReport r = diff_models(f->a, f->b, bounded_thread_count(f->threads));
    const bool equal = r.equal(f->tol);
    if (f->json) {
      fmt::print("{}\n", diff_json(r, f->tol).dump(2));
    } else {
      for (const auto& n : r.only_a) fmt::print("only in A: {}\n", escape_for_display(n));
      for (const auto& n : r.only_b) fmt::print("only in B: {}\n", escape_for_display(n));
      size_t identical = 0;
      double worst = 0, worst_cos = 1;
      for (const auto& t : r.common) {
        if (t.compared && t.max_abs == 0 && !f->all) {
          ++identical;
          continue;
        }
        if (!t.compared) {
          fmt::print("{:<48} {}/{} [{}] vs [{}]: {}\n", escape_for_display(t.name), t.dtype_a, t.dtype_b, fmt::join(t.shape_a, ", "), fmt::join(t.shape_b, ", "), t.note);
          continue;
        }
        worst = std::max(worst, t.max_abs), worst_cos = std::min(worst_cos, t.cosine);
        fmt::print("{:<48} {:>5}/{:<5} max|d| {:.3e}  rel {:.3e}  cos {:.8f}{}\n", escape_for_display(t.name), t.dtype_a, t.dtype_b, t.max_abs, t.rel_error,
                   t.cosine, t.note.empty() ? "" : "  (" + t.note + ")");
      }
      fmt::print("{} common tensors ({} identical), {} only in A, {} only in B; largest max|d| {:.3e}, lowest cosine {:.8f}: {} within --tol {}\n",
                 r.common.size(), identical, r.only_a.size(), r.only_b.size(), worst, worst_cos, equal ? "equal" : "NOT equal", f->tol);
    }
    std::fflush(stdout);
    if (!equal) std::exit(3);
  });
}

}  // namespace ckpt::cli
