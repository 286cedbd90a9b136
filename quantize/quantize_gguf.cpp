// GGUF -> GGUF quantization: pick each tensor's type (quant_policy), stream rows through f32 into the
// target's blocks with worker threads, copy everything else, and keep the metadata (file_type updated).
#include "quantize/quantize_gguf.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "formats/ckpt_archive_source.h"
#include "formats/byte_sink.h"
#include "formats/gguf_split.h"
#include "formats/model_source.h"
#include "formats/output_guard.h"
#include "formats/rewrite.h"
#include "formats/parallel.h"
#include "formats/progress.h"
#include "quantize/quant_policy.h"
#include "quantize/quantize.h"
#include "quantize/row_stream.h"

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
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) { return llama_cpp_order_less(a->info->name, b->info->name); });
  QuantPolicy policy = QuantPolicy::for_gguf(*type, o.pure, names, main);

  QuantizeReport report;
  report.tensors.resize(order.size());
  std::vector<Job> jobs;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& info = *order[i]->info;
    DType to = info.dtype;
    const bool keep = std::any_of(o.keep_patterns.begin(), o.keep_patterns.end(), [&](const auto& p) { return glob_match(p, info.name); });
    if (!keep && QuantPolicy::allows_quantization(info.name, info.ne.size())) {
      to = policy.choose(info.name, info.ne);
      if (to != info.dtype && is_block_quantized(info.dtype) && !o.allow_requantize) {
        throw Error(ErrorCode::InvalidArgument, order[i]->shard->file->path(), info.info_offset_in_file, "tensor '" + info.name + "'",
                    "is already " + std::string(dtype_name(info.dtype)) + "; requantizing loses quality twice (pass --allow-requantize)");
      }
      if (to != info.dtype && shape_numel(info.ne).value_or(0) == 0) {
        throw Error(ErrorCode::BadShape, order[i]->shard->file->path(), info.info_offset_in_file, "tensor '" + info.name + "'",
                    "has a zero dimension " + shape_to_string(info.ne) + "; there is nothing to quantize");
      }
      if (to != info.dtype && !can_dequantize_from(info.dtype)) {
        throw Error(ErrorCode::Unsupported, order[i]->shard->file->path(), info.info_offset_in_file, "tensor '" + info.name + "'",
                    "cannot read " + std::string(dtype_name(info.dtype)) + " data");
      }
    }
    auto& r = report.tensors[i];
    r.name = info.name;
    r.from = info.dtype;
    r.to = to;
    r.bytes_before = info.n_bytes;
    r.bytes_after = *dtype_bytes_for(to, *shape_numel(info.ne));
    report.bytes_before += r.bytes_before;
    report.bytes_after += r.bytes_after;
    jobs.push_back({order[i]->shard, order[i]->info, to, &r});
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

  const unsigned threads = bounded_thread_count(o.threads);
  ProgressBar progress("quantize", report.bytes_before, o.progress);
  RewritePlan rewrite;
  rewrite.gguf_kvs = std::move(kvs);
  for (const auto& job : jobs) {
    TensorDataWriter writer;
    if (job.to == job.info->dtype) {
      writer = [job, &progress](ByteSink& sink) {
        sink.write_from(*job.shard->file, job.shard->data(*job.info));
        progress.add(job.info->n_bytes);
      };
    } else {
      writer = [job, threads, stats = o.stats, &progress](ByteSink& sink) { write_quantized(job, threads, stats, sink, progress); };
    }
    rewrite.tensors.push_back({job.info->name, job.to, std::vector<uint64_t>(job.info->ne.rbegin(), job.info->ne.rend()),
                               std::move(writer)});
  }
  if (is_ckpt_archive_output(o.output)) rewrite.provenance = ckpt_provenance(open_model_source(o.input), o.input, "quantize", {{"type", o.type}, {"pure", o.pure}});
  report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::gguf(o.output, o.split));
  progress.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
