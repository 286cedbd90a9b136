// llama2.c checkpoints (run.c's legacy format) + their tokenizer.bin -> GGUF "llama".
//
// model.bin: see formats/llama2c.h (read there).
// tokenizer.bin: i32 max_token_length; per token: f32 score, i32 length, bytes.
// Weights are already in llama.cpp's interleaved rope layout (llama2.c trains with complex rope): no
// permutation. Names, order and vocabulary handling follow llama.cpp's convert-llama2c-to-ggml.
#include <filesystem>

#include "convert/convert_internal.h"
#include "formats/tokenizer_meta.h"
#include "formats/byte_reader.h"
#include "formats/checked_math.h"
#include "formats/llama2c.h"
#include "formats/mapped_file.h"

namespace ckpt {

namespace {

TokenizerMeta read_llama2c_vocab(const std::string& path, uint64_t n_vocab) {
  const auto file = MappedFile::open(path);
  ByteReader r(file->bytes(), path);
  r.read<int32_t>("max_token_length");
  TokenizerMeta meta;
  meta.model = "llama";
  meta.pre = "default";
  meta.source_files.push_back(path);
  for (uint64_t id = 0; id < n_vocab; ++id) {
    const float score = r.read<float>("score");
    const uint64_t len_at = r.offset();
    const auto len = r.read<int32_t>("token length");
    if (len < 0) r.fail_at(len_at, ErrorCode::BadShape, "token length", "negative");
    std::string text(r.read_chars(static_cast<uint64_t>(len), "token"));
    TokenType type = TokenType::Normal;
    unsigned byte_value;
    if (id == 0) {
      text = "<unk>";
      type = TokenType::Unknown;
    } else if (id == 1) {
      text = "<s>";
      type = TokenType::Control;
    } else if (id == 2) {
      text = "</s>";
      type = TokenType::Control;
    } else if (text.empty()) {
      type = TokenType::Control;
    } else if (std::sscanf(text.c_str(), "<0x%02X>", &byte_value) == 1) {
      type = TokenType::Byte;
    }
    // llama2.c's export turned SentencePiece's U+2581 into spaces; put it back.
    std::string escaped;
    for (char ch : text) escaped += ch == ' ' ? std::string("\xe2\x96\x81") : std::string(1, ch);
    meta.tokens.push_back(std::move(escaped));
    meta.scores.push_back(score);
    meta.types.push_back(type);
  }
  meta.unk_id = 0;
  meta.bos_id = 1;
  meta.eos_id = 2;
  return meta;
}

}  // namespace

ConvertReport convert_llama2c_to_gguf(const ConvertOptions& options) {
  if (options.llama2c_vocab.empty()) {
    throw Error(ErrorCode::InvalidArgument, options.input, Error::kNoOffset, "--llama2c-vocab",
                "a llama2.c checkpoint needs its tokenizer.bin (e.g. tok512.bin)");
  }
  const Llama2cFile model = read_llama2c(MappedFile::open(options.input));
  const Llama2cConfig& c = model.config;
  const auto& file = model.file;
  const uint64_t head = c.dim / c.n_heads, kv_dim = c.n_kv_heads * head, L = c.n_layers;

  GgufConversion plan;
  plan.architecture = "llama";
  auto& kvs = plan.kvs;
  const DType outtype = parse_outtype(options.outtype, DType::F32);
  plan.outtype = outtype;
  auto u32 = [&](const char* key, uint64_t v) { kvs.push_back({key, {static_cast<uint32_t>(v)}, 0}); };
  kvs.push_back({"general.architecture", {std::string("llama")}, 0});
  kvs.push_back({"general.type", {std::string("model")}, 0});
  kvs.push_back({"general.name", {options.model_name.empty() ? std::filesystem::path(options.input).stem().string() : options.model_name}, 0});
  u32("llama.block_count", L);
  u32("llama.context_length", c.seq_len);
  u32("llama.embedding_length", c.dim);
  u32("llama.feed_forward_length", c.hidden_dim);
  u32("llama.attention.head_count", c.n_heads);
  u32("llama.attention.head_count_kv", c.n_kv_heads);
  kvs.push_back({"llama.attention.layer_norm_rms_epsilon", {1e-5f}, 0});
  u32("general.file_type", llama_file_type(outtype));
  u32("llama.vocab_size", c.vocab_size);
  u32("llama.rope.dimension_count", head);
  read_llama2c_vocab(options.llama2c_vocab, c.vocab_size).append_kvs(kvs);
  kvs.push_back({"general.quantization_version", {uint32_t{2}}, 0});
  kvs.push_back({"general.alignment", {kGgufDefaultAlignment}, 0});

  // Views into the map, one per GGUF tensor.
  plan.sources.reserve(4 + 9 * L);
  auto view = [&](const std::string& gguf_name, const char* array, uint64_t index, std::vector<uint64_t> shape) {
    const uint64_t n = *shape_numel(shape);
    SourceTensor s{array, DType::F32, shape, model.array(array).data.subspan(index * n * 4, n * 4), file, {}, DType::F32, ""};
    s.name = std::string(array) + (shape.size() > 1 || L > 1 ? "[" + std::to_string(index) + "]" : "");
    plan.sources.push_back(std::move(s));
    TensorJob job;
    job.out_name = gguf_name;
    job.source = &plan.sources.back();
    job.ne = gguf_dims_after(plan.sources.back(), TensorOp::None);
    job.out_dtype = tensor_out_dtype(gguf_name, job.ne, outtype);
    plan.jobs.push_back(std::move(job));
  };
  view("token_embd.weight", "token_embedding", 0, {c.vocab_size, c.dim});
  view("output_norm.weight", "rms_final", 0, {c.dim});
  view("output.weight", c.shared_classifier ? "token_embedding" : "wcls", 0, {c.vocab_size, c.dim});
  for (uint64_t i = 0; i < L; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    view(b + "attn_q.weight", "wq", i, {c.dim, c.dim});
    view(b + "attn_k.weight", "wk", i, {kv_dim, c.dim});
    view(b + "attn_v.weight", "wv", i, {kv_dim, c.dim});
    view(b + "attn_output.weight", "wo", i, {c.dim, c.dim});
    view(b + "attn_norm.weight", "rms_att", i, {c.dim});
    view(b + "ffn_gate.weight", "w1", i, {c.hidden_dim, c.dim});
    view(b + "ffn_down.weight", "w2", i, {c.dim, c.hidden_dim});
    view(b + "ffn_up.weight", "w3", i, {c.hidden_dim, c.dim});
    view(b + "ffn_norm.weight", "rms_ffn", i, {c.dim});
  }
  return write_gguf_conversion(plan, options);
}

}  // namespace ckpt
