// HF checkpoint -> bitsandbytes 4-bit checkpoint (NF4/FP4, optional double quantization) in the exact
// safetensors layout transformers loads. Linear weights are quantized; embeddings, lm_head, norms and
// biases stay as stored, as transformers' get_keys_to_not_convert leaves them.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/output_guard.h"
#include "formats/detect.h"
#include "formats/json_header.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
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

struct Source {
  const TensorInfo* info;
  const SafetensorsFile* file;
};

std::vector<float> decode(const Source& s) {
  std::vector<float> x(*shape_numel(s.info->shape));
  const auto bytes = s.file->data(*s.info);
  decode_to_f32(s.info->dtype, bytes, x);
  s.file->file->release(bytes);  // keep RSS to one tensor: the pages are re-read from the page cache if needed
  return x;
}

void write_text(const fs::path& path, const std::string& text) {
  AtomicFileSink sink(path.string());
  sink.write_text(text);
  sink.commit();
}

}  // namespace

QuantizeReport quantize_hf_to_bnb(const QuantizeOptions& o, const BnbSpec& spec) {
  const auto start = std::chrono::steady_clock::now();
  if (!is_valid_bnb_blocksize(o.blocksize)) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, "--blocksize", "must be a power of two from 32 to 4096");
  }
  const fs::path in(o.input), out(o.output);
  check_output_path(o.output, {o.input}, /*output_is_directory=*/true);
  const std::string weights = find_hf_weights(o.input);
  std::vector<SafetensorsFile> files;
  if (weights.ends_with(".index.json")) {
    auto set = read_safetensors_index(weights);
    files = std::move(set.shards);
  } else {
    files.push_back(read_safetensors(weights));
  }
  QuantizeReport report;
  std::vector<TensorToWrite> tensors;
  DType compute_dtype = DType::F32;
  for (const auto& file : files) {
    for (const auto& t : file.tensors) {
      const Source src{&t, &file};
      const bool keep = std::any_of(o.keep_patterns.begin(), o.keep_patterns.end(), [&](const auto& p) { return glob_match(p, t.name); });
      QuantizedTensorReport r{t.name, t.dtype, t.dtype, t.n_bytes, t.n_bytes, 0, 0};
      if (keep || !bnb_should_quantize(t.name, t.shape, t.dtype)) {
        tensors.push_back({t.name, t.dtype, t.shape, write_bytes_from(file.data(t))});
        report.tensors.push_back(r);
        report.bytes_before += r.bytes_before;
        report.bytes_after += r.bytes_after;
        continue;
      }
      compute_dtype = t.dtype;
      const uint64_t n = *shape_numel(t.shape), n_blocks = (n + o.blocksize - 1) / o.blocksize;
      const uint64_t bs = o.blocksize;
      const auto shape = t.shape;
      const DType dtype = t.dtype;
      // Each companion recomputes what it needs from the source: scales are a cheap pass, and nothing
      // the size of the model is held in memory between tensors.
      auto scales = [src, spec, bs]() { return quantize_bnb4(decode(src), spec.type, bs, spec.double_quant, false); };
      tensors.push_back({t.name, DType::U8, {(n + 1) / 2, 1}, [src, spec, bs, &o, &report, idx = report.tensors.size()](ByteSink& sink) {
                           const auto x = decode(src);
                           const auto q = quantize_bnb4(x, spec.type, bs, spec.double_quant);
                           sink.write(std::as_bytes(std::span(q.packed)));
                           if (o.stats) {
                             std::vector<float> y(x.size());
                             dequantize_bnb4(q.packed, q.absmax, bnb4_code(spec.type), bs, y);
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
      if (spec.double_quant) {
        tensors.push_back({t.name + ".absmax", DType::U8, {n_blocks}, [scales](ByteSink& sink) { const auto q = scales(); sink.write(std::as_bytes(std::span(q.absmax_codes))); }});
        tensors.push_back({t.name + ".nested_absmax", DType::F32, {(n_blocks + 255) / 256},
                           [scales](ByteSink& sink) { const auto q = scales(); sink.write(std::as_bytes(std::span(q.nested_absmax))); }});
        tensors.push_back({t.name + ".nested_quant_map", DType::F32, {256},
                           [](ByteSink& sink) { sink.write(std::as_bytes(std::span(bnb_dynamic_map()))); }});
      } else {
        tensors.push_back({t.name + ".absmax", DType::F32, {n_blocks}, [scales](ByteSink& sink) { const auto q = scales(); sink.write(std::as_bytes(std::span(q.absmax))); }});
      }
      tensors.push_back({t.name + ".quant_map", DType::F32, {16}, [spec](ByteSink& sink) { sink.write(std::as_bytes(std::span(bnb4_code(spec.type)))); }});
      // The JSON's length is needed for the header before any data is written: compute it now (cheap).
      const std::string json = bnb4_quant_state_json(scales(), shape, dtype);
      auto json_bytes = std::make_shared<std::string>(json);
      tensors.push_back({t.name + ".quant_state.bitsandbytes__" + (spec.type == Bnb4Type::NF4 ? "nf4" : "fp4"), DType::U8,
                         {json.size()}, [json_bytes](ByteSink& sink) { sink.write_text(*json_bytes); }});
      r.to = DType::U8;
      r.bytes_after = (n + 1) / 2 + (spec.double_quant ? n_blocks + 4 * ((n_blocks + 255) / 256) + 1024 : 4 * n_blocks) + 64 + json.size();
      report.tensors.push_back(r);
      report.bytes_before += r.bytes_before;
      report.bytes_after += r.bytes_after;
    }
  }
  if (o.dry_run) return report;
  StagingDir stage(out.string(), o.force);
  const fs::path staged(stage.path());
  write_safetensors_sharded(stage.path(), std::move(tensors), parse_shard_size("5GB"), {{"format", "pt"}});
  // config.json: the input's, plus quantization_config as transformers writes it.
  const auto cfg_file = MappedFile::open((in / "config.json").string());
  const std::string_view cfg_text(reinterpret_cast<const char*>(cfg_file->bytes().data()), cfg_file->size());
  auto config = parse_json_strictly(cfg_text, cfg_file->path(), 0, "config.json");
  config["quantization_config"] = nlohmann::ordered_json::parse(bnb4_quantization_config_json(spec.type, spec.double_quant, compute_dtype));
  write_text(staged / "config.json", config.dump(2) + "\n");
  for (const char* f : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                        "generation_config.json", "vocab.json", "merges.txt"}) {
    if (fs::exists(in / f)) fs::copy_file(in / f, staged / f, fs::copy_options::overwrite_existing);
  }
  stage.commit();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ckpt
