// GGUF -> GGUF quantization: pick each tensor's type (quant_policy), stream rows through f32 into the
// target's blocks with worker threads, copy everything else, and keep the metadata (file_type updated).
#include "quantize/quantize_gguf.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "formats/ckpt_archive_source.h"
#include "formats/byte_sink.h"
#include "formats/gguf_split.h"
#include "formats/imatrix_file.h"
#include "formats/model_source.h"
#include "formats/output_guard.h"
#include "formats/rewrite.h"
#include "formats/parallel.h"
#include "formats/progress.h"
#include "quantize/quant_policy.h"
#include "quantize/quantize.h"
#include "quantize/row_stream.h"

#include <fmt/format.h>

namespace ckpt {

bool glob_match(const std::string& p, const std::string& t) {
  size_t pi = 0, ti = 0, star = std::string::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

namespace {

struct Job {
  const GgufFile* shard;
  const GgufTensorInfo* info;
  DType to;
  QuantizedTensorReport* report;
  const std::vector<float>* importance = nullptr;  // its imatrix entry, when one is used
};

// Quantizes one tensor through the shared row streamer; with stats, the dequantized result is compared
// with the input.
void write_quantized(const Job& job, unsigned threads, bool stats, ByteSink& sink, ProgressBar& progress) {
  const auto& t = *job.info;
  const auto src = job.shard->data(t);
  RowStream stream;
  stream.src = src;
  stream.src_dtype = t.dtype;
  stream.out_dtype = job.to;
  stream.row_len = t.ne.empty() ? 1 : t.ne[0];
  stream.n_rows = stream.row_len ? *shape_numel(t.ne) / stream.row_len : 0;
  stream.stats = stats;
  if (job.importance) {
    // One imatrix row per expert: rows of expert e use entry[e * ne0 .. (e + 1) * ne0).
    const uint64_t ne0 = stream.row_len, rows_per_expert = t.ne.size() > 1 ? t.ne[1] : 1;
    const float* entry = job.importance->data();
    stream.importance = [entry, ne0, rows_per_expert](uint64_t row) { return std::span<const float>(entry + row / rows_per_expert * ne0, ne0); };
  }
  const RowStreamStats s = stream_rows(stream, threads, sink, &progress);
  if (stats) {
    job.report->rmse = std::sqrt(s.sq_sum / static_cast<double>(std::max<uint64_t>(1, *shape_numel(t.ne))));
    job.report->max_abs = s.max_abs;
  }
  job.shard->file->release(src);
}

}  // namespace

namespace {
// A GGUF file, a split set, or a .ckpt archive made from a GGUF (its tensors read in place).
std::shared_ptr<const GgufSet> open_gguf_input(const std::string& path) {
  if (!is_ckpt_archive_path(path)) return std::make_shared<GgufSet>(open_gguf_set(path));
  if (auto set = open_archive_gguf(path)) return set;
  throw Error(ErrorCode::Unsupported, path, Error::kNoOffset, "origin",
              "this archive holds an HF checkpoint; quantize it while converting: ckpt convert " + path + " --outtype TYPE -o OUT.gguf");
}
}  // namespace

namespace {

// A ggml type name as llama-quantize takes it for --output-tensor-type and friends (case-insensitive).
DType parse_tensor_type(const std::string& name, const std::string& flag) {
  std::string upper;
  for (char c : name) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto t = dtype_from_name(upper);
  if (!t || !can_quantize_to(*t)) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, flag,
                "'" + name + "' is not a type ckpt writes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K .. Q6_K, IQ4_NL, IQ4_XS)");
  }
  return *t;
}

QuantOverrides parse_overrides(const QuantizeOptions& o) {
  QuantOverrides v;
  v.pure = o.pure;
  if (!o.output_tensor_type.empty()) v.output_type = parse_tensor_type(o.output_tensor_type, "--output-tensor-type");
  if (!o.token_embedding_type.empty()) v.token_embedding_type = parse_tensor_type(o.token_embedding_type, "--token-embedding-type");
  for (const auto& spec : o.tensor_types) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--tensor-type", "'" + spec + "' is not PATTERN=TYPE (e.g. attn_v=q8_0)");
    }
    try {
      v.tensor_types.emplace_back(std::regex(spec.substr(0, eq)), parse_tensor_type(spec.substr(eq + 1), "--tensor-type"));
    } catch (const std::regex_error& e) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--tensor-type", "'" + spec.substr(0, eq) + "' is not a regular expression: " + e.what());
    }
  }
  return v;
}

// llama-quantize's prepare_imatrix: --exclude-weights drops entries whose name contains a pattern,
// --include-weights keeps only those that do.
void filter_imatrix(ImportanceMatrix& m, const QuantizeOptions& o) {
  if (!o.include_weights.empty() && !o.exclude_weights.empty()) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--include-weights", "cannot be combined with --exclude-weights");
  }
  auto contains_any = [](const std::string& name, const std::vector<std::string>& parts) {
    return std::any_of(parts.begin(), parts.end(), [&](const auto& p) { return name.find(p) != std::string::npos; });
  };
  std::erase_if(m.entries, [&](const auto& e) {
    return (!o.exclude_weights.empty() && contains_any(e.first, o.exclude_weights)) ||
           (!o.include_weights.empty() && !contains_any(e.first, o.include_weights));
  });
}

bool is_token_embedding(const std::string& name) { return name == "token_embd.weight" || name == "per_layer_token_embd.weight"; }

// llama-quantize records the importance matrix it used under these keys (at most 127 bytes of text).
void add_imatrix_kvs(std::vector<GgufKv>& kvs, const ImportanceMatrix& m, size_t entries) {
  auto put = [&](const std::string& key, GgufValue v) {
    std::erase_if(kvs, [&](const GgufKv& kv) { return kv.key == key; });
    kvs.push_back({key, std::move(v), 0});
  };
  put("quantize.imatrix.file", GgufValue{m.path.substr(0, 127)});
  if (!m.datasets.empty()) put("quantize.imatrix.dataset", GgufValue{m.datasets.front().substr(0, 127)});
  put("quantize.imatrix.entries_count", GgufValue{static_cast<uint32_t>(entries)});
  if (m.chunk_count > 0) put("quantize.imatrix.chunks_count", GgufValue{m.chunk_count});
}

}  // namespace

QuantizeReport quantize_gguf_file(const QuantizeOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const auto type = find_gguf_quant_type(o.type);
  if (!type) {
    std::string names;
    for (const auto& t : gguf_quant_types()) names += (names.empty() ? "" : ", ") + t.name;
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--type", "'" + o.type + "' is not one of " + names + " (or nf4, nf4-dq, fp4, fp4-dq for HF directories)");
  }
  check_output_path(o.output, {o.input}, /*output_is_directory=*/false);
  const std::shared_ptr<const GgufSet> input = open_gguf_input(o.input);
  const GgufSet& set = *input;
  const GgufFile& main = set.main();
  refuse_gguf_adapter(main, "quantize");
  if (set.shards.size() > 1) {  // the other shards of a split input are inputs too
    std::vector<std::string> shards;
    for (const auto& shard : set.shards) shards.push_back(shard.file->path());
    check_output_path(o.output, shards, false);
  }
  std::vector<const GgufSet::Entry*> order;
  std::vector<std::string> names;
  for (const auto& e : set.tensors) {
    order.push_back(&e);
    names.push_back(e.info->name);
  }
  // llama.cpp visits tensors by layer then name, except with --keep-split, where it keeps the input's
  // order (shard by shard); the mix counters advance in that order.
  if (!o.keep_split) {
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return llama_cpp_order_less(a->info->name, b->info->name); });
  }
  QuantOverrides overrides = parse_overrides(o);
  std::optional<ImportanceMatrix> imatrix;
  QuantizeReport report;
  if (!o.imatrix.empty()) {
    imatrix = read_imatrix(o.imatrix);
    filter_imatrix(*imatrix, o);
    report.imatrix_entries = imatrix->entries.size();
    if (imatrix->entries.empty()) {
      report.notes.push_back("--imatrix: no entries left after --include-weights/--exclude-weights; quantizing without one");
      imatrix.reset();
    }
  } else if (!o.include_weights.empty() || !o.exclude_weights.empty()) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, o.include_weights.empty() ? "--exclude-weights" : "--include-weights", "filters --imatrix entries; give --imatrix FILE");
  }
  overrides.has_imatrix = imatrix.has_value();
  QuantPolicy policy(*type, std::move(overrides), names, QuantModelFacts::from_gguf(main));

  report.tensors.resize(order.size());
  std::vector<Job> jobs;
  std::vector<std::string> without_entry;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& info = *order[i]->info;
    const std::string& path = order[i]->shard->file->path();
    DType to = info.dtype;
    const bool keep = std::any_of(o.keep_patterns.begin(), o.keep_patterns.end(), [&](const auto& p) { return glob_match(p, info.name); }) ||
                      (o.leave_output_tensor && info.name == "output.weight");
    const std::vector<float>* importance = nullptr;
    if (!keep && QuantPolicy::allows_quantization(info.name, info.ne)) {
      to = policy.choose(info.name, info.ne);
      if (to != info.dtype && is_block_quantized(info.dtype) && !o.allow_requantize) {
        throw Error(ErrorCode::InvalidArgument, path, info.info_offset_in_file, "tensor '" + info.name + "'",
                    "is already " + std::string(dtype_name(info.dtype)) + "; requantizing loses quality twice (pass --allow-requantize)");
      }
      if (to != info.dtype && shape_numel(info.ne).value_or(0) == 0) {
        throw Error(ErrorCode::BadShape, path, info.info_offset_in_file, "tensor '" + info.name + "'",
                    "has a zero dimension " + shape_to_string(info.ne) + "; there is nothing to quantize");
      }
      if (to != info.dtype && !can_dequantize_from(info.dtype)) {
        throw Error(ErrorCode::Unsupported, path, info.info_offset_in_file, "tensor '" + info.name + "'",
                    "cannot read " + std::string(dtype_name(info.dtype)) + " data");
      }
      if (to != info.dtype && imatrix) {
        const auto it = imatrix->entries.find(info.name);
        const uint64_t want = info.ne[0] * (info.ne.size() > 2 ? info.ne[2] : 1);
        if (it == imatrix->entries.end()) {
          if (uses_importance(to)) without_entry.push_back(info.name);
        } else if (it->second.size() == want) {
          importance = &it->second;
        } else if (!is_token_embedding(info.name)) {  // llama-quantize forgives token_embd only
          throw Error(ErrorCode::SizeMismatch, o.imatrix, Error::kNoOffset, "entry '" + info.name + "'",
                      std::to_string(it->second.size()) + " values, but the tensor needs " + std::to_string(want) + " (ne[0] x experts): an imatrix made for another model?");
        }
      }
      const bool needs_imatrix = type->requires_imatrix && to == DType::Q2_K && info.name != "output.weight" && !is_token_embedding(info.name);
      if (to != info.dtype && needs_imatrix && !importance) {
        throw Error(ErrorCode::InvalidArgument, path, info.info_offset_in_file, "tensor '" + info.name + "'",
                    type->name + " needs an importance matrix for it (--imatrix FILE from llama-imatrix); without one the result is garbage");
      }
    }
    auto& r = report.tensors[i];
    r.name = info.name;
    r.from = info.dtype;
    r.to = to;
    r.importance = importance != nullptr;
    r.bytes_before = info.n_bytes;
    r.bytes_after = *dtype_bytes_for(to, *shape_numel(info.ne));
    report.bytes_before += r.bytes_before;
    report.bytes_after += r.bytes_after;
    jobs.push_back({order[i]->shard, order[i]->info, to, &r, importance});
  }
  if (!without_entry.empty()) {
    report.notes.push_back(fmt::format("--imatrix has no entry for {} tensor(s) ({}{}); they are quantized without one", without_entry.size(),
                                       without_entry.front(), without_entry.size() > 1 ? ", ..." : ""));
  }
  if (o.dry_run) return report;

  std::vector<GgufKv> kvs;
  bool has_qv = false;
  for (const auto& kv : main.kvs) {
    if (kv.key.starts_with("split.")) continue;  // the output is one file
    GgufKv copy = kv;
    if (kv.key == "general.file_type") copy.value = GgufValue{type->llama_ftype};
    if (kv.key == "general.quantization_version") has_qv = true;
    kvs.push_back(std::move(copy));
  }
  if (!main.find_kv("general.file_type")) kvs.push_back({"general.file_type", {type->llama_ftype}, 0});
  if (!has_qv) kvs.push_back({"general.quantization_version", {uint32_t{2}}, 0});
  if (imatrix) add_imatrix_kvs(kvs, *imatrix, report.imatrix_entries);

  const unsigned threads = bounded_thread_count(o.threads);
  ProgressBar progress("quantize", report.bytes_before, o.progress);
  RewritePlan rewrite;
  rewrite.gguf_kvs = std::move(kvs);
  for (const auto& job : jobs) {
    TensorDataWriter writer;
    if (job.to == job.info->dtype) {
      writer = [job, &progress](ByteSink& sink) {
        progress.set_status(job.info->name);
        sink.write_from(*job.shard->file, job.shard->data(*job.info));
        progress.add(job.info->n_bytes);
      };
    } else {
      writer = [job, threads, stats = o.stats, &progress](ByteSink& sink) {
        progress.set_status(job.info->name);
        write_quantized(job, threads, stats, sink, progress);
      };
    }
    rewrite.tensors.push_back({job.info->name, job.to, std::vector<uint64_t>(job.info->ne.rbegin(), job.info->ne.rend()),
                               std::move(writer)});
  }
  if (is_ckpt_archive_output(o.output)) rewrite.provenance = ckpt_provenance(open_model_source(o.input), o.input, "quantize", {{"type", o.type}, {"pure", o.pure}});
  GgufSplitLimits split = o.split;
  if (o.keep_split && set.shards.size() > 1) {
    if (split.max_tensors || split.max_bytes) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--keep-split", "cannot be combined with --split-max-tensors/--split-max-size");
    }
    for (const auto& job : jobs) split.shard_of.push_back(static_cast<size_t>(job.shard - set.shards.data()));
  }
  report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::gguf(o.output, split));
  progress.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
