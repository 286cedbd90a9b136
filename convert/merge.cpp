// `ckpt merge`: plan (every adapter module matched, every mismatch in one error), then hand the shared
// rewrite sink a plan whose touched tensors compute their merged values when written (one tensor in
// memory at a time). The output keeps the base's format: an HF directory (or, with -o X.gguf, the
// converted GGUF), a GGUF with the base's types or --outtype's, bitsandbytes for nf4/fp4 outtypes.
#include <malloc.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "convert/convert_internal.h"
#include "convert/merge.h"
#include "convert/merge_plan.h"
#include <nlohmann/json.hpp>

#include "formats/ckpt_archive_source.h"
#include "formats/byte_sink.h"
#include "formats/json_header.h"
#include "formats/output_guard.h"
#include "formats/parallel.h"
#include "formats/progress.h"
#include "formats/rewrite.h"
#include "quantize/quant_policy.h"
#include "quantize/quantize.h"
#include "quantize/quantize_bnb.h"
#include "quantize/row_stream.h"

namespace ckpt {

namespace fs = std::filesystem;

MergeAdapterSpec parse_adapter_spec(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon != std::string::npos && colon + 1 < text.size()) {
    const std::string w = text.substr(colon + 1);
    char* end = nullptr;
    const double v = std::strtod(w.c_str(), &end);
    if (end && *end == '\0' && !fs::exists(text)) {
      if (!std::isfinite(v)) throw Error(ErrorCode::InvalidArgument, text, Error::kNoOffset, "adapter weight", "'" + w + "' is not a finite number");
      return {text.substr(0, colon), v};
    }
  }
  return {text, 1.0};
}

namespace {

DType stored_dtype(const SourceTensor& t) { return t.decode ? t.stored_dtype : t.dtype; }

std::vector<std::byte> encode_rows(const std::vector<float>& values, uint64_t row_len, DType dtype, unsigned threads) {
  const uint64_t n_rows = values.size() / row_len, out_row = *dtype_bytes_for(dtype, row_len);
  std::vector<std::byte> out(n_rows * out_row);
  parallel_for(n_rows, threads, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      encode_from_f32(dtype, std::span(values).subspan(i * row_len, row_len), std::span(out).subspan(i * out_row, out_row));
    }
  });
  return out;
}

std::vector<float> decode_all(std::span<const std::byte> bytes, DType dtype, uint64_t n) {
  std::vector<float> out(n);
  decode_to_f32(dtype, bytes, out);
  return out;
}

// mflux's measure of an adapter surviving requantization: how many quantized values moved, and how
// well what moved follows the intended delta.
void measure_survival(const std::vector<float>& merged, const std::vector<float>& merged_q, const std::vector<float>& base,
                      const std::vector<float>& base_q, MergedTensorReport& rep) {
  uint64_t changed = 0;
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  const size_t n = merged.size();
  for (size_t i = 0; i < n; ++i) {
    changed += merged_q[i] != base_q[i];
    const double x = static_cast<double>(merged_q[i]) - base_q[i], y = static_cast<double>(merged[i]) - base[i];
    sx += x;
    sy += y;
    sxx += x * x;
    syy += y * y;
    sxy += x * y;
  }
  rep.codes_changed = n ? static_cast<double>(changed) / static_cast<double>(n) : 0;
  const double dn = static_cast<double>(n);
  const double cov = sxy - sx * sy / dn, vx = sxx - sx * sx / dn, vy = syy - sy * sy / dn;
  rep.delta_correlation = vx > 0 && vy > 0 ? cov / std::sqrt(vx * vy) : 0;
}

constexpr double kErasedCorrelation = 0.5;

// A touched tensor merged row by row while it streams through the shared row loop (no whole-tensor
// buffers; the writes of one batch overlap the merge of the next).
void stream_merged(const TensorRecipe& recipe, DType dtype, unsigned threads, ByteSink& sink, MergedTensorReport& report) {
  const RowMerger merger(recipe);
  const SourceTensor& base = *recipe.base;
  RowStream s;
  s.src = base.data;
  s.src_dtype = base.dtype;
  s.out_dtype = dtype;
  s.row_len = base.shape.back();
  s.n_rows = *shape_numel(base.shape) / s.row_len;
  s.transform = [&merger](uint64_t row, std::span<float> values) { merger.apply(row, values); };
  stream_rows(s, threads, sink, nullptr);
  if (base.file) base.file->release(base.data);
  report.delta_norm = merger.delta_norm();
}

struct OutTensor {
  const SourceTensor* source = nullptr;   // untouched: the base tensor
  const TensorRecipe* recipe = nullptr;   // touched
  std::string name;
  std::vector<uint64_t> shape;            // PyTorch order
  DType dtype = DType::F32;
  size_t report = SIZE_MAX;
};

bool is_float_type(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// The progress bar names the tensor being written.
TensorDataWriter with_status(TensorDataWriter inner, const std::string& name, ProgressBar& progress) {
  return [inner = std::move(inner), name, &progress](ByteSink& sink) {
    progress.set_status(name);
    inner(sink);
  };
}

// The GGUF type --outtype asks for, per tensor (the f32 merge quantized as `ckpt quantize` would).
class GgufTypeChooser {
 public:
  GgufTypeChooser(const std::string& outtype, const ModelSource& base, const std::vector<std::string>& names) {
    if (outtype.empty()) return;
    if (outtype == "f32" || outtype == "f16" || outtype == "bf16") {
      float_ = parse_outtype(outtype, DType::F16);
      ftype_ = llama_file_type(*float_);
      return;
    }
    const auto q = find_gguf_quant_type(outtype);
    if (!q) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--outtype",
                  "'" + outtype + "' is not f32, f16, bf16 or a GGUF type ckpt quantizes (Q8_0, Q4_K_M, ...)");
    }
    ftype_ = q->llama_ftype;
    if (q->requires_imatrix) {
      throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--outtype", q->name + " needs an importance matrix; merge to f16, then ckpt quantize --imatrix");
    }
    policy_.emplace(*q, QuantOverrides{}, names, QuantModelFacts::from_gguf(base.gguf->main()));
  }
  std::optional<uint32_t> file_type() const { return ftype_; }
  bool quantizing() const { return policy_.has_value(); }
  // Call in llama.cpp's order (the K-quant mixes count tensors as they go).
  DType choose(const std::string& name, const std::vector<uint64_t>& ne, DType stored) {
    if (float_) return tensor_out_dtype(name, ne, *float_);
    // What `ckpt quantize` makes of the f32 merge: tensors it does not quantize stay F32.
    if (policy_) return QuantPolicy::allows_quantization(name, ne) ? policy_->choose(name, ne) : DType::F32;
    return stored;
  }

 private:
  std::optional<DType> float_;
  std::optional<QuantPolicy> policy_;
  std::optional<uint32_t> ftype_;
};

void copy_side_files(const ModelSource& from, const std::string& dir, const std::vector<std::string>& skip) {
  for (const auto& f : from.side_files) {
    const fs::path p(f);
    const std::string name = p.filename().string();
    if (name.ends_with(".index.json") || name == "config.json" || std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    fs::copy_file(p, fs::path(dir) / name, fs::copy_options::overwrite_existing);
  }
}

// What a merged archive records: the base's files and the adapters with their weights.
std::string merge_provenance(const MergeInputs& in, const MergeOptions& o) {
  nlohmann::ordered_json adapters = nlohmann::ordered_json::array();
  for (const auto& a : o.adapters) adapters.push_back({{"adapter", std::filesystem::path(a.path).filename().string()}, {"weight", a.weight}});
  return ckpt_provenance(in.base, o.base, "merge", {{"adapters", adapters}, {"outtype", o.outtype}, {"merge_into", o.merge_into}});
}

}  // namespace

MergeReport merge_lora(const MergeOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  // Every touched tensor is decoded into a fresh buffer of up to a few hundred MB: keep freed buffers in
  // the heap for the next tensor instead of unmapping them (glibc mmaps large blocks; re-faulting and
  // zeroing their pages cost ~10% of a merge).
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1024 << 20);
  if (o.output.empty() && !o.dry_run) throw Error(ErrorCode::InvalidArgument, o.base, Error::kNoOffset, "-o", "no output given");
  if (o.merge_into != "original" && o.merge_into != "nf4-roundtrip") {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--merge-into", "'" + o.merge_into + "' is not original or nf4-roundtrip");
  }
  std::vector<std::string> inputs{o.base};
  for (const auto& a : o.adapters) inputs.push_back(a.path);
  MergeInputs in = open_merge_inputs(o);
  if (!o.output.empty()) {
    std::vector<std::string> all = in.base.input_files();
    for (const auto& a : in.adapters) {
      for (const auto& f : a->source.input_files()) all.push_back(f);
    }
    all.insert(all.end(), inputs.begin(), inputs.end());
    const bool to_gguf = in.gguf || o.output.ends_with(".gguf");
    check_output_path(o.output, all, /*output_is_directory=*/!to_gguf);
  }
  const MergePlan plan = plan_merge(in, o);
  const unsigned threads = bounded_thread_count(o.threads);

  MergeReport report;
  report.base_format = in.base.format;
  report.warnings = plan.warnings;
  report.untied = !plan.untied_output.empty();
  report.vocab_from = plan.vocab_from;
  report.vocab_to = plan.vocab_to;
  report.tensors.reserve(plan.recipes.size());
  std::map<std::string, size_t> report_index;
  for (const auto& r : plan.recipes) {
    MergedTensorReport t;
    t.name = r.name;
    t.how = r.how;
    t.adapters = r.adapter_names;
    report_index[r.name] = report.tensors.size();
    report.tensors.push_back(std::move(t));
  }
  if (in.bnb) report.warnings.push_back("the base is bitsandbytes-quantized: the adapter merges into dequant(W4), the weights a QLoRA adapter was trained against");

  // The output tensors in the base's order, the untied output projection after the embedding.
  std::vector<OutTensor> outs;
  const TensorRecipe* untied = plan.untied_output.empty() ? nullptr : plan.find(plan.untied_output);
  for (const auto& t : in.base.tensors) {
    OutTensor ot{&t, plan.find(t.name), t.name, t.shape, stored_dtype(t), SIZE_MAX};
    if (ot.recipe) {
      ot.shape = ot.recipe->shape;
      ot.report = report_index[t.name];
    }
    outs.push_back(ot);
    if (untied && t.name == untied->base->name) {
      outs.push_back({nullptr, untied, untied->name, untied->shape, stored_dtype(*untied->base), report_index[untied->name]});
    }
  }
  report.tensors_total = outs.size();

  // A bitsandbytes 4-bit base is written back in its own type by default (as PEFT does), with a warning
  // that requantizing may erase part of the delta; --outtype bf16 keeps it exactly.
  std::string bnb_type = parse_bnb_type(o.outtype) ? o.outtype : "";
  if (o.outtype.empty() && in.bnb && in.config) {
    const auto& q = in.config->json().value("quantization_config", nlohmann::ordered_json::object());
    if (q.is_object() && q.value("load_in_4bit", false)) {
      bnb_type = q.value("bnb_4bit_quant_type", std::string("nf4")) + (q.value("bnb_4bit_use_double_quant", false) ? "-dq" : "");
      if (!parse_bnb_type(bnb_type)) bnb_type.clear();
    }
    report.warnings.push_back(bnb_type.empty() ? "the base is 8-bit bitsandbytes, which ckpt does not write: the merge is written dense (its 16-bit dtype)"
                                               : "the merge is requantized to " + bnb_type + " like the base (PEFT does the same); small deltas can be "
                                                 "partly erased: --outtype bf16 keeps them exactly");
  }
  const bool bnb_out = !bnb_type.empty();
  const bool hf_to_gguf = !in.gguf && o.output.ends_with(".gguf");
  ProgressBar progress("merge", outs.size(), o.progress && !o.dry_run);

  if (in.gguf) {
    report.output_format = "GGUF";
    if (bnb_out) throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--outtype", "nf4/fp4 outputs need an HF base; this base is a GGUF");
    std::vector<std::string> names;
    for (const auto& t : outs) names.push_back(t.name);
    GgufTypeChooser chooser(o.outtype, in.base, names);
    std::vector<size_t> order(outs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return llama_cpp_order_less(outs[a].name, outs[b].name); });
    for (size_t i : order) {
      auto& t = outs[i];
      const std::vector<uint64_t> ne(t.shape.rbegin(), t.shape.rend());
      t.dtype = chooser.choose(t.name, ne, t.dtype);
      if (t.recipe && o.keep_delta && is_block_quantized(t.dtype) && t.dtype != DType::Q8_0 && ne[0] % 32 == 0) {
        MergedTensorReport probe;
        const auto merged = merged_values(*t.recipe, threads, probe);
        const auto base = tensor_values(*t.recipe->base);
        if (merged.size() == base.size()) {
          const auto mq = decode_all(encode_rows(merged, ne[0], t.dtype, threads), t.dtype, merged.size());
          const auto bq = decode_all(encode_rows(base, ne[0], t.dtype, threads), t.dtype, base.size());
          measure_survival(merged, mq, base, bq, probe);
          if (probe.delta_correlation < kErasedCorrelation) {
            t.dtype = DType::Q8_0;
            report.tensors[t.report].kept_as_q8_0 = true;
          }
        }
      }
    }
    if (o.dry_run) {
      for (const auto& t : outs) {
        if (t.report != SIZE_MAX) report.tensors[t.report].dtype = t.dtype;
      }
      return report;
    }
    RewritePlan rewrite;
    bool has_ftype = false;
    for (const auto& kv : in.base.gguf->main().kvs) {
      if (kv.key.starts_with("split.")) continue;
      GgufKv copy = kv;
      if (kv.key == "general.file_type") {
        has_ftype = true;
        if (chooser.file_type()) copy.value = GgufValue{*chooser.file_type()};
      }
      rewrite.gguf_kvs.push_back(std::move(copy));
    }
    if (!has_ftype && chooser.file_type()) rewrite.gguf_kvs.push_back({"general.file_type", {*chooser.file_type()}, 0});
    // A quantized outtype writes what `ckpt quantize` writes from the f32 merge: its order and keys.
    if (chooser.quantizing()) {
      const bool has_qv = std::any_of(rewrite.gguf_kvs.begin(), rewrite.gguf_kvs.end(), [](const auto& kv) { return kv.key == "general.quantization_version"; });
      if (!has_qv) rewrite.gguf_kvs.push_back({"general.quantization_version", {uint32_t{2}}, 0});
      std::vector<OutTensor> sorted;
      for (size_t i : order) sorted.push_back(outs[i]);
      outs = std::move(sorted);
    }
    for (const auto& t : outs) {
      if (t.report != SIZE_MAX) report.tensors[t.report].dtype = t.dtype;
      const uint64_t row_len = t.shape.empty() ? 1 : t.shape.back();
      MergedTensorReport* rep = t.report != SIZE_MAX ? &report.tensors[t.report] : nullptr;
      TensorDataWriter writer;
      if (!t.recipe && t.dtype == t.source->dtype) {
        writer = [src = t.source, &progress](ByteSink& sink) {
          sink.write_from(*src->file, src->data);
          src->file->release(src->data);
          progress.add(1);
        };
      } else if (!t.recipe) {
        writer = [src = t.source, dtype = t.dtype, row_len, threads, &progress](ByteSink& sink) {
          write_f32_rows(tensor_values(*src), row_len, dtype, threads, sink);
          progress.add(1);
        };
      } else if (!is_block_quantized(t.dtype) && RowMerger::streamable(*t.recipe)) {
        writer = [recipe = t.recipe, dtype = t.dtype, rep, threads, &progress](ByteSink& sink) {
          stream_merged(*recipe, dtype, threads, sink, *rep);
          progress.add(1);
        };
      } else {
        writer = [t, rep, row_len, threads, &progress](ByteSink& sink) {
          const auto merged = merged_values(*t.recipe, threads, *rep);
          if (is_block_quantized(t.dtype)) {
            const auto bytes = encode_rows(merged, row_len, t.dtype, threads);
            const auto mq = decode_all(bytes, t.dtype, merged.size());
            const SourceTensor& b = *t.recipe->base;
            if (b.shape == t.shape) {
              const auto base = tensor_values(b);
              const auto bq = b.dtype == t.dtype && !b.decode ? decode_all(b.data, b.dtype, base.size())
                                                               : decode_all(encode_rows(base, row_len, t.dtype, threads), t.dtype, base.size());
              measure_survival(merged, mq, base, bq, *rep);
            }
            sink.write(bytes);
          } else {
            write_f32_rows(merged, row_len, t.dtype, threads, sink);
          }
          progress.add(1);
        };
      }
      rewrite.tensors.push_back({t.name, t.dtype, t.shape, with_status(std::move(writer), t.name, progress)});
    }
    if (is_ckpt_archive_output(o.output)) rewrite.provenance = merge_provenance(in, o);
    report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::gguf(o.output, o.split));
  } else {
    // An HF base: the merged model as a source whose touched tensors compute their values when read.
    ModelSource merged = in.base;
    merged.tensors.clear();
    for (const auto& t : outs) {
      if (!t.recipe) {
        merged.tensors.push_back(*t.source);
        continue;
      }
      SourceTensor s;
      s.name = t.name;
      s.dtype = DType::F32;
      s.shape = t.shape;
      s.file = t.recipe->base->file;
      s.stored_dtype = t.dtype;
      MergedTensorReport* rep = &report.tensors[t.report];
      s.decode = [recipe = t.recipe, rep, threads] { return merged_values(*recipe, threads, *rep); };
      merged.tensors.push_back(std::move(s));
    }
    merged.all_tensors = merged.tensors;
    merged.index();
    // config.json as the merged model needs it.
    std::optional<nlohmann::ordered_json> config;
    if (in.config) {
      config = in.config->json();
      if (report.untied) (*config)["tie_word_embeddings"] = false;
      if (plan.vocab_to) (*config)["vocab_size"] = plan.vocab_to;
      if (in.bnb && !bnb_out) config->erase("quantization_config");
    }
    if (report.untied) report.warnings.push_back("the input and output embeddings are no longer tied: '" + plan.untied_output + "' is written on its own and tie_word_embeddings is false");
    const LoraAdapter* resizer = nullptr;
    if (plan.vocab_to) {
      for (const auto& a : in.adapters) {
        for (const auto& f : a->full) {
          if (f.tensor->shape.size() == 2 && f.tensor->shape[0] == plan.vocab_to) resizer = a.get();
        }
      }
      report.warnings.push_back(fmt::format("the vocabulary grows from {} to {} rows ('{}' from the adapter); tokenizer files come from {}", plan.vocab_from,
                                            plan.vocab_to, plan.resized, resizer ? resizer->source.path : o.base));
    }
    if (o.dry_run) {
      for (const auto& t : outs) {
        if (t.report != SIZE_MAX) report.tensors[t.report].dtype = t.dtype;
      }
      return report;
    }
    if (bnb_out) {
      report.output_format = "bitsandbytes " + bnb_type;
      QuantizeOptions q;
      q.input = o.base;
      q.output = o.output;
      q.threads = o.threads;
      q.force = o.force;
      q.progress = false;
      const auto qr = quantize_source_to_bnb(merged, config ? config->dump(2) + "\n" : std::string(), q, *parse_bnb_type(bnb_type));
      report.outputs = qr.outputs;
    } else if (hf_to_gguf) {
      report.output_format = "GGUF";
      if (plan.vocab_to) throw Error(ErrorCode::Unsupported, o.output, Error::kNoOffset, "-o", "a resized vocabulary needs the adapter's tokenizer: merge to an HF directory, then convert");
      if (!config) throw Error(ErrorCode::NotFound, o.base, Error::kNoOffset, "config.json", "converting the merge to GGUF needs the base's config.json");
      ConvertOptions c;
      c.input = o.base;
      c.output = o.output;
      c.outtype = o.outtype;
      c.threads = o.threads;
      c.split = o.split;
      const JsonFile cfg = JsonFile::from_text(in.config->path(), config->dump());
      const GgufConversion conv = plan_hf_to_gguf(merged, cfg, c);
      for (const auto& job : conv.jobs) {
        if (const auto it = report_index.find(job.source->name); it != report_index.end()) report.tensors[it->second].dtype = job.out_dtype;
      }
      report.outputs = write_gguf_conversion(conv, c).outputs;
    } else {
      report.output_format = "HF safetensors";
      std::optional<DType> outtype;
      if (!o.outtype.empty()) {
        if (o.outtype != "f32" && o.outtype != "f16" && o.outtype != "bf16") {
          throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--outtype",
                      "'" + o.outtype + "': an HF output is f32, f16, bf16 or nf4/nf4-dq/fp4/fp4-dq (for GGUF block types, -o NAME.gguf)");
        }
        outtype = parse_outtype(o.outtype, DType::F16);
        if (config) (*config)["torch_dtype"] = std::string(o.outtype == "f32" ? "float32" : o.outtype == "f16" ? "float16" : "bfloat16");
      }
      RewritePlan rewrite;
      rewrite.safetensors_metadata = {{"format", "pt"}};
      for (size_t i = 0; i < merged.tensors.size(); ++i) {
        const SourceTensor& t = merged.tensors[i];
        const TensorRecipe* recipe = outs[i].recipe;
        const DType want = outtype && is_float_type(stored_dtype(t)) ? *outtype : stored_dtype(t);
        if (const auto it = report_index.find(t.name); it != report_index.end()) report.tensors[it->second].dtype = want;
        const uint64_t row_len = t.shape.empty() ? 1 : t.shape.back();
        TensorDataWriter writer;
        if (recipe && RowMerger::streamable(*recipe)) {
          writer = [recipe, want, rep = &report.tensors[outs[i].report], threads, &progress](ByteSink& sink) {
            stream_merged(*recipe, want, threads, sink, *rep);
            progress.add(1);
          };
        } else if (!t.decode && want == t.dtype) {
          writer = [src = &t, &progress](ByteSink& sink) {
            sink.write_from(*src->file, src->data);
            src->file->release(src->data);
            progress.add(1);
          };
        } else {
          writer = [src = &t, want, row_len, threads, &progress](ByteSink& sink) {
            write_f32_rows(tensor_values(*src), row_len, want, threads, sink);
            progress.add(1);
          };
        }
        rewrite.tensors.push_back({t.name, want, t.shape, with_status(std::move(writer), t.name, progress)});
      }
      if (config) rewrite.side_files.push_back([text = config->dump(2) + "\n"](const std::string& dir) { write_text_file((fs::path(dir) / "config.json").string(), text); });
      rewrite.side_files.push_back([&in, resizer](const std::string& dir) {
        copy_side_files(in.base, dir, {});
        if (resizer) copy_side_files(resizer->source, dir, {"adapter_config.json"});
      });
      if (is_ckpt_archive_output(o.output)) rewrite.provenance = merge_provenance(in, o);
      report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::hf_directory(o.output, 0, o.force));
    }
  }
  progress.finish();
  for (auto& t : report.tensors) {
    if (t.delta_correlation >= 0 && t.delta_correlation < kErasedCorrelation && !t.kept_as_q8_0) {
      report.warnings.push_back(fmt::format("'{}': requantizing as {} kept {:.0f}% of the delta's direction (correlation {:.2f}, {:.0f}% of values changed); "
                                            "--keep-delta writes it as Q8_0",
                                            t.name, dtype_name(t.dtype), 100 * std::max(0.0, t.delta_correlation), t.delta_correlation, 100 * t.codes_changed));
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::vector<std::string> adapter_mismatches(const std::string& adapter, const std::string& base) {
  MergeOptions o;
  o.base = base;
  o.adapters.push_back({adapter, 1.0});
  const MergeInputs in = open_merge_inputs(o);
  std::vector<std::string> problems;
  plan_merge(in, o, &problems);
  return problems;
}

}  // namespace ckpt
