// HF checkpoint -> bitsandbytes 4-bit checkpoint (NF4/FP4, optional double quantization) in the exact
// safetensors layout transformers loads. Linear weights are quantized; embeddings, lm_head, norms and
// biases stay as stored, as transformers' get_keys_to_not_convert leaves them.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "formats/ckpt_archive_source.h"
#include "formats/byte_sink.h"
#include "formats/output_guard.h"
#include "formats/rewrite.h"
#include "formats/model_source.h"
#include "formats/parallel.h"
#include "formats/json_header.h"
#include "formats/safetensors.h"
#include "quantize/bnb_layout.h"
#include "quantize/quantize.h"
#include "quantize/quantize_bnb.h"
#include "quantize/quantize_gguf.h"

namespace ckpt {

namespace fs = std::filesystem;

std::optional<BnbSpec> parse_bnb_type(const std::string& name) {
  std::string n;
  for (char c : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (n == "nf4") return BnbSpec{Bnb4Type::NF4, false};
  if (n == "nf4-dq") return BnbSpec{Bnb4Type::NF4, true};
  if (n == "fp4") return BnbSpec{Bnb4Type::FP4, false};
  if (n == "fp4-dq") return BnbSpec{Bnb4Type::FP4, true};
  return std::nullopt;
}

bool bnb_should_quantize(const std::string& name, const std::vector<uint64_t>& shape, DType dtype) {
  if (shape.size() != 2 || !name.ends_with(".weight")) return false;
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16) return false;
  for (const char* skip : {"embed", "lm_head", "wte", "wpe", "norm", "ln_"}) {
    if (name.find(skip) != std::string::npos) return false;
  }
  return true;
}

namespace {

// Element chunks handed to one thread at a time: block-aligned (so packed bytes never straddle two
// chunks) and ~1 MiB of f32.
constexpr uint64_t kChunkElems = uint64_t{1} << 18;

// Runs fn(first_element, decoded_chunk) over `t` in block-aligned chunks on `threads` threads.
void for_each_chunk(const SourceTensor& t, uint64_t blocksize, unsigned threads,
                    const std::function<void(uint64_t, std::span<const float>)>& fn) {
  const uint64_t n = *shape_numel(t.shape);
  const uint64_t chunk = std::max<uint64_t>(blocksize, kChunkElems / blocksize * blocksize);
  const uint64_t n_chunks = (n + chunk - 1) / chunk;
  const uint64_t elem = dtype_info(t.dtype).block_bytes;
  // A computed tensor (a merge, a bnb fold) is produced once, then chunked like mapped bytes.
  const std::vector<float> computed = t.decode ? t.decode() : std::vector<float>();
  parallel_for(n_chunks, threads, [&](size_t first, size_t last) {
    std::vector<float> x(chunk);
    for (size_t c = first; c < last; ++c) {
      const uint64_t begin = c * chunk, len = std::min(chunk, n - begin);
      std::span<const float> values;
      if (t.decode) {
        values = std::span(computed).subspan(begin, len);
      } else if (t.dtype == DType::F32 && reinterpret_cast<uintptr_t>(t.data.data()) % alignof(float) == 0) {
        // SAFETY: aligned whole floats of the mapped file (safetensors and torch storages are aligned; a
        // hostile file that is not takes the copying path below): read the map in place.
        values = {reinterpret_cast<const float*>(t.data.data()) + begin, len};
      } else {
        decode_to_f32(t.dtype, t.data.subspan(begin * elem, len * elem), std::span(x).first(len));
        values = std::span<const float>(x).first(len);
      }
      fn(begin, values);
    }
  });
}

// One weight's quantization. The header needs the quant_state JSON (its nested offset is the mean of
// the absmax), so the plan makes one absmax pass; the packed codes and absmax codes come from one more
// pass when the weight is written, shared with its companions written right after it.
struct WeightJob {
  SourceTensor src;
  BnbSpec spec;
  uint64_t blocksize;
  unsigned threads;
  std::shared_ptr<Bnb4Quantized> full;  // between the weight and its adjacent U8 companions

  uint64_t n() const { return *shape_numel(src.shape); }
  uint64_t n_blocks() const { return (n() + blocksize - 1) / blocksize; }

  Bnb4Quantized scales() const {
    Bnb4Quantized q;
    q.type = spec.type;
    q.blocksize = blocksize;
    q.absmax.resize(n_blocks());
    for_each_chunk(src, blocksize, threads, [&](uint64_t begin, std::span<const float> x) {
      bnb4_block_absmax(x, blocksize, std::span(q.absmax).subspan(begin / blocksize, (x.size() + blocksize - 1) / blocksize));
    });
    if (spec.double_quant) bnb4_double_quantize(q);
    src.file->release(src.data);  // the plan's pass must not leave the whole model resident
    return q;
  }
  const Bnb4Quantized& quantized() {
    if (full) return *full;
    full = std::make_shared<Bnb4Quantized>();
    Bnb4Quantized& q = *full;
    q.type = spec.type;
    q.blocksize = blocksize;
    q.absmax.resize(n_blocks());
    q.packed.resize((n() + 1) / 2);
    for_each_chunk(src, blocksize, threads, [&](uint64_t begin, std::span<const float> x) {
      const auto absmax = std::span(q.absmax).subspan(begin / blocksize, (x.size() + blocksize - 1) / blocksize);
      bnb4_block_absmax(x, blocksize, absmax);
      bnb4_pack_codes(x, absmax, spec.type, blocksize, std::span(q.packed).subspan(begin / 2, (x.size() + 1) / 2));
    });
    if (spec.double_quant) bnb4_double_quantize(q);
    src.file->release(src.data);  // keep RSS to one tensor: pages are re-read from the page cache if needed
    return q;
  }
  void done() { full.reset(); }
};

}  // namespace

QuantizeReport quantize_hf_to_bnb(const QuantizeOptions& o, const BnbSpec& spec) {
  if (!is_valid_bnb_blocksize(o.blocksize)) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--blocksize", "must be a power of two from 32 to 4096");
  }
  check_output_path(o.output, {o.input}, /*output_is_directory=*/true);
  const ModelSource source = open_model_source(o.input);
  if (source.kind != SourceKind::HfCheckpoint || !source.config_path) {
    throw Error(ErrorCode::Unsupported, o.input, Error::kNoOffset, "input",
                "bitsandbytes quantization reads an HF checkpoint directory (config.json + safetensors or .bin); this is " +
                    std::string(source_kind_name(source.kind)) + (source.config_path ? "" : " without config.json"));
  }
  for (const auto& t : source.all_tensors) {
    if (is_bnb_companion(t.name)) {
      throw Error(ErrorCode::InvalidArgument, t.file ? t.file->path() : o.input, t.offset_in_file(), "tensor '" + t.name + "'",
                  "the checkpoint is already bitsandbytes-quantized");
    }
  }
  return quantize_source_to_bnb(source, std::string(), o, spec);
}

QuantizeReport quantize_source_to_bnb(const ModelSource& source, const std::string& config_text, const QuantizeOptions& o, const BnbSpec& spec) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path in(source.dir), out(o.output);
  const unsigned threads = bounded_thread_count(o.threads);
  QuantizeReport report;
  std::vector<TensorToWrite> tensors;
  DType compute_dtype = DType::F32;
  for (const auto& t : source.tensors) {
    const bool keep = std::any_of(o.keep_patterns.begin(), o.keep_patterns.end(), [&](const auto& p) { return glob_match(p, t.name); });
    QuantizedTensorReport r{t.name, t.dtype, t.dtype, t.data.size(), t.data.size(), 0, 0};
    const DType stored = t.decode ? t.stored_dtype : t.dtype;
    if (keep || !bnb_should_quantize(t.name, t.shape, stored)) {
      if (t.decode) {
        r.from = r.to = stored;
        tensors.push_back({t.name, stored, t.shape, [&t](ByteSink& sink) {
                             const auto v = t.decode();
                             std::vector<std::byte> bytes(*dtype_bytes_for(t.stored_dtype, v.size()));
                             encode_from_f32(t.stored_dtype, v, bytes);
                             sink.write(bytes);
                           }});
      } else {
        tensors.push_back({t.name, t.dtype, t.shape, write_bytes_from(t.file, t.data)});
      }
      report.tensors.push_back(r);
      report.bytes_before += r.bytes_before;
      report.bytes_after += r.bytes_after;
      continue;
    }
    compute_dtype = stored;
    auto job = std::make_shared<WeightJob>(WeightJob{t, spec, o.blocksize, threads, nullptr});
    const uint64_t n = job->n(), n_blocks = job->n_blocks();
    const size_t idx = report.tensors.size();
    tensors.push_back({t.name, DType::U8, {(n + 1) / 2, 1}, [job, &o, &report, idx](ByteSink& sink) {
                         const auto& q = job->quantized();
                         sink.write(std::as_bytes(std::span(q.packed)));
                         if (o.stats) {
                           std::vector<float> x(job->n()), y(job->n());
                           if (job->src.decode) {
                             x = job->src.decode();
                           } else {
                             decode_to_f32(job->src.dtype, job->src.data, x);
                           }
                           dequantize_bnb4(q.packed, q.absmax, bnb4_code(job->spec.type), job->blocksize, y);
                           double sq = 0, mx = 0;
                           for (size_t i = 0; i < x.size(); ++i) {
                             const double d = static_cast<double>(x[i]) - y[i];
                             sq += d * d;
                             mx = std::max(mx, std::fabs(d));
                           }
                           report.tensors[idx].rmse = std::sqrt(sq / static_cast<double>(std::max<size_t>(1, x.size())));
                           report.tensors[idx].max_abs = mx;
                         }
                       }});
    std::string json;
    if (spec.double_quant) {
      // The F32 companions are written before the U8 group (safetensors orders by dtype): keep the small
      // nested state from the plan's pass; the absmax codes come with the weight's full pass.
      auto plan_scales = std::make_shared<Bnb4Quantized>(job->scales());
      json = bnb4_quant_state_json(*plan_scales, t.shape, stored);
      plan_scales->absmax.clear();
      plan_scales->absmax.shrink_to_fit();
      plan_scales->absmax_codes.clear();
      plan_scales->absmax_codes.shrink_to_fit();
      tensors.push_back({t.name + ".absmax", DType::U8, {n_blocks}, [job](ByteSink& sink) {
                           sink.write(std::as_bytes(std::span(job->quantized().absmax_codes)));
                         }});
      tensors.push_back({t.name + ".nested_absmax", DType::F32, {(n_blocks + 255) / 256},
                         [plan_scales](ByteSink& sink) { sink.write(std::as_bytes(std::span(plan_scales->nested_absmax))); }});
      tensors.push_back({t.name + ".nested_quant_map", DType::F32, {256},
                         [](ByteSink& sink) { sink.write(std::as_bytes(std::span(bnb_dynamic_map()))); }});
    } else {
      // Without double quantization the JSON does not depend on the data.
      Bnb4Quantized shape_only;
      shape_only.type = spec.type;
      shape_only.blocksize = o.blocksize;
      json = bnb4_quant_state_json(shape_only, t.shape, stored);
      tensors.push_back({t.name + ".absmax", DType::F32, {n_blocks},
                         [job](ByteSink& sink) {
                           const auto q = job->scales();
                           sink.write(std::as_bytes(std::span(q.absmax)));
                         }});
    }
    tensors.push_back({t.name + ".quant_map", DType::F32, {16}, [spec](ByteSink& sink) { sink.write(std::as_bytes(std::span(bnb4_code(spec.type)))); }});
    auto json_bytes = std::make_shared<std::string>(json);
    // Sorted last of the weight's U8 group (".quant_state" > ".absmax" > ""): the shared pass ends here.
    tensors.push_back({t.name + ".quant_state.bitsandbytes__" + (spec.type == Bnb4Type::NF4 ? "nf4" : "fp4"), DType::U8,
                       {json.size()}, [json_bytes, job](ByteSink& sink) {
                         sink.write_text(*json_bytes);
                         job->done();
                       }});
    r.to = DType::U8;
    r.bytes_after = (n + 1) / 2 + (spec.double_quant ? n_blocks + 4 * ((n_blocks + 255) / 256) + 1024 : 4 * n_blocks) + 64 + json.size();
    report.tensors.push_back(r);
    report.bytes_before += r.bytes_before;
    report.bytes_after += r.bytes_after;
  }
  if (o.dry_run) return report;
  // config.json: the input's, plus quantization_config as transformers writes it.
  std::shared_ptr<const MappedFile> cfg_file;
  std::string_view cfg_text = config_text;
  if (cfg_text.empty()) {
    cfg_file = MappedFile::open(*source.config_path);
    cfg_text = {reinterpret_cast<const char*>(cfg_file->bytes().data()), cfg_file->size()};
  }
  auto config = parse_json_strictly(cfg_text, *source.config_path, 0, "config.json");
  config["quantization_config"] = nlohmann::ordered_json::parse(bnb4_quantization_config_json(spec.type, spec.double_quant, compute_dtype));
  RewritePlan rewrite;
  rewrite.tensors = std::move(tensors);
  rewrite.safetensors_metadata = {{"format", "pt"}};
  rewrite.side_files.push_back([text = config.dump(2) + "\n"](const std::string& dir) { write_text_file((fs::path(dir) / "config.json").string(), text); });
  rewrite.side_files.push_back([in](const std::string& dir) {
    for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                          "generation_config.json", "vocab.json", "merges.txt"}) {
      if (fs::exists(in / f)) fs::copy_file(in / f, fs::path(dir) / f, fs::copy_options::overwrite_existing);
    }
  });
  if (is_ckpt_archive_output(o.output)) rewrite.provenance = ckpt_provenance(source, o.input, "quantize", {{"type", o.type}, {"blocksize", o.blocksize}});
  report.outputs = write_rewrite(std::move(rewrite), RewriteTarget::hf_directory(out.string(), 0, o.force));
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
