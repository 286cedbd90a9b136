// HF -> GGUF -> HF conversions on checkpoints built here with known values, and on the real GPT-2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "convert/convert.h"
#include "formats/permute.h"
#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/gguf.h"
#include "formats/gguf_split.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "tests/support/test_support.h"
#include "tests/support/torch_bin_writer.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;
const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

std::vector<float> floats_of(std::span<const std::byte> bytes) {
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}
std::vector<std::byte> bytes_of(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

ConvertOptions options(const std::string& in, const std::string& out, const std::string& outtype) {
  ConvertOptions o;
  o.input = in;
  o.output = out;
  o.outtype = outtype;
  o.model_name = "test";
  o.threads = 2;
  return o;
}

TEST(Permute, MatchesHandComputedRowOrder) {
  // head_dim 4: GGUF rows of each head come from HF rows 0, 2, 1, 3 (pairs of the two halves).
  const uint64_t expected[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (uint64_t r = 0; r < 8; ++r) {
    EXPECT_EQ(hf_row_for_gguf_row(r, 8, 2), expected[r]);
    EXPECT_EQ(gguf_row_for_hf_row(expected[r], 8, 2), r);
  }
  // head_dim 8: 0, 4, 1, 5, 2, 6, 3, 7.
  const uint64_t hd8[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  for (uint64_t r = 0; r < 8; ++r) EXPECT_EQ(hf_row_for_gguf_row(r, 8, 1), hd8[r]);
}

// A one-layer llama with hidden 8, 2 heads (head_dim 4), 1 kv head; every weight value encodes its
// (row, column) so the GGUF layout can be checked element by element.
void write_tiny_llama(const fs::path& dir, const std::string& arch = "LlamaForCausalLM", bool biases = false) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"architectures": [")" << arch << R"("], "hidden_size": 8, "intermediate_size": 32,
    "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 512,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-06, "rope_theta": 10000.0})";
  fs::copy_file(kSample + "/tokenizer.json", dir / "tokenizer.json");
  fs::copy_file(kSample + "/tokenizer_config.json", dir / "tokenizer_config.json");
  std::vector<std::vector<float>> data;
  std::vector<TensorToWrite> tensors;
  data.reserve(32);
  auto add = [&](const std::string& name, std::vector<uint64_t> shape) {
    const uint64_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
    auto& v = data.emplace_back(rows * cols);
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t c = 0; c < cols; ++c) v[r * cols + c] = static_cast<float>(r * 100 + c) / 1024.0f;
    }
    const auto& bytes = std::as_bytes(std::span(v));
    tensors.push_back({name, DType::F32, shape, write_bytes_from(bytes)});
  };
  add("model.embed_tokens.weight", {512, 8});
  add("lm_head.weight", {512, 8});
  add("model.norm.weight", {8});
  const std::string p = "model.layers.0.";
  add(p + "input_layernorm.weight", {8});
  add(p + "post_attention_layernorm.weight", {8});
  add(p + "self_attn.q_proj.weight", {8, 8});
  add(p + "self_attn.k_proj.weight", {4, 8});
  add(p + "self_attn.v_proj.weight", {4, 8});
  add(p + "self_attn.o_proj.weight", {8, 8});
  add(p + "mlp.gate_proj.weight", {32, 8});
  add(p + "mlp.up_proj.weight", {32, 8});
  add(p + "mlp.down_proj.weight", {8, 32});
  if (biases) {
    add(p + "self_attn.q_proj.bias", {8});
    add(p + "self_attn.k_proj.bias", {4});
    add(p + "self_attn.v_proj.bias", {4});
  }
  write_safetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}});
}

TEST(ConvertHf, LlamaQkRowsArePermutedAndNormsStayF32) {
  test::TempDir dir;
  write_tiny_llama(dir.path() / "m");
  convert(options((dir.path() / "m").string(), dir.file("m.gguf"), "f32"));
  const GgufFile g = read_gguf(dir.file("m.gguf"));
  auto row = [&](const char* name, uint64_t r, uint64_t cols) {
    const auto v = floats_of(g.data(*g.find_tensor(name)));
    return std::vector<float>(v.begin() + static_cast<long>(r * cols), v.begin() + static_cast<long>((r + 1) * cols));
  };
  auto hf_row = [](uint64_t r, uint64_t cols) {
    std::vector<float> v(cols);
    for (uint64_t c = 0; c < cols; ++c) v[c] = static_cast<float>(r * 100 + c) / 1024.0f;
    return v;
  };
  const uint64_t q_order[8] = {0, 2, 1, 3, 4, 6, 5, 7}, k_order[4] = {0, 2, 1, 3};
  for (uint64_t r = 0; r < 8; ++r) EXPECT_EQ(row("blk.0.attn_q.weight", r, 8), hf_row(q_order[r], 8)) << r;
  for (uint64_t r = 0; r < 4; ++r) EXPECT_EQ(row("blk.0.attn_k.weight", r, 8), hf_row(k_order[r], 8)) << r;
  for (uint64_t r = 0; r < 4; ++r) EXPECT_EQ(row("blk.0.attn_v.weight", r, 8), hf_row(r, 8)) << "v is not permuted";
  EXPECT_EQ(g.find_tensor("blk.0.ffn_down.weight")->ne, (std::vector<uint64_t>{32, 8}));
  EXPECT_EQ(g.find_kv("llama.attention.head_count_kv")->value.as_u64(), 1u);
  EXPECT_EQ(g.find_kv("llama.rope.dimension_count")->value.as_u64(), 4u);

  convert(options((dir.path() / "m").string(), dir.file("m16.gguf"), "f16"));
  const GgufFile h = read_gguf(dir.file("m16.gguf"));
  EXPECT_EQ(h.find_tensor("blk.0.attn_norm.weight")->dtype, DType::F32);
  EXPECT_EQ(h.find_tensor("blk.0.attn_q.weight")->dtype, DType::F16);
  EXPECT_EQ(h.find_kv("general.file_type")->value.as_u64(), 1u);
  // f16 of (r*100+c)/1024 is exact for these values.
  const auto q16 = h.data(*h.find_tensor("blk.0.attn_q.weight"));
  uint16_t first_of_row1;
  std::memcpy(&first_of_row1, q16.data() + 8 * 2, 2);
  EXPECT_EQ(f16_to_f32(first_of_row1), 200.0f / 1024.0f);  // GGUF row 1 = HF row 2
}

TEST(ConvertHf, Qwen2KeepsBiasesAndDoesNotPermute) {
  test::TempDir dir;
  write_tiny_llama(dir.path() / "q", "Qwen2ForCausalLM", true);
  convert(options((dir.path() / "q").string(), dir.file("q.gguf"), "f32"));
  const GgufFile g = read_gguf(dir.file("q.gguf"));
  EXPECT_EQ(*g.find_kv("general.architecture")->value.as_string(), "qwen2");
  ASSERT_TRUE(g.find_tensor("blk.0.attn_q.bias"));
  EXPECT_EQ(g.find_tensor("blk.0.attn_q.bias")->dtype, DType::F32);
  const auto q = floats_of(g.data(*g.find_tensor("blk.0.attn_q.weight")));
  EXPECT_EQ(q[8], 100.0f / 1024.0f) << "row 1 stays row 1 in qwen2";
  EXPECT_EQ(g.find_kv("qwen2.attention.layer_norm_rms_epsilon")->value.as_f64().value(), static_cast<double>(1e-06f));
}

TEST(ConvertHf, UnknownTensorsAreAnErrorListingThem) {
  test::TempDir dir;
  write_tiny_llama(dir.path() / "m");
  const std::vector<float> extra(4, 1.0f);
  auto src = read_safetensors((dir.path() / "m" / "model.safetensors").string());
  std::vector<TensorToWrite> tensors;
  for (const auto& t : src.tensors) tensors.push_back({t.name, t.dtype, t.shape, write_bytes_from(src.data(t))});
  const auto extra_bytes = bytes_of(extra);
  tensors.push_back({"model.layers.0.self_attn.q_proj.weight.absmax", DType::F32, {4}, write_bytes_from(extra_bytes)});
  write_safetensors((dir.path() / "m" / "model2.safetensors").string(), tensors, {});
  fs::rename(dir.path() / "m" / "model2.safetensors", dir.path() / "m" / "model.safetensors");
  const Error e = test::expect_error(ErrorCode::Unsupported, [&] { convert(options((dir.path() / "m").string(), dir.file("x.gguf"), "f16")); });
  EXPECT_NE(std::string(e.what()).find("q_proj.weight.absmax"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.file("x.gguf")));
}

TEST(ConvertHf, PytorchBinGivesTheSameGgufAsSafetensors) {
  test::TempDir dir;
  write_tiny_llama(dir.path() / "st");
  fs::create_directories(dir.path() / "bin");
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json"}) fs::copy_file(dir.path() / "st" / f, dir.path() / "bin" / f);
  const auto st = read_safetensors((dir.path() / "st" / "model.safetensors").string());
  std::vector<test::TorchTensorSpec> specs;
  for (const auto& t : st.tensors) {
    const auto d = st.data(t);
    specs.push_back({t.name, t.dtype, t.shape, std::vector<std::byte>(d.begin(), d.end())});
  }
  test::write_file_bytes((dir.path() / "bin" / "pytorch_model.bin").string(), test::torch_save_bytes(specs));
  convert(options((dir.path() / "st").string(), dir.file("a.gguf"), "f16"));
  convert(options((dir.path() / "bin").string(), dir.file("b.gguf"), "f16"));
  EXPECT_EQ(test::read_file_bytes(dir.file("a.gguf")), test::read_file_bytes(dir.file("b.gguf")));
}

TEST(ConvertHf, SampleRoundTripsThroughHfToAnIdenticalGguf) {
  test::TempDir dir;
  for (const char* outtype : {"f16", "f32", "bf16"}) {
    SCOPED_TRACE(outtype);
    const std::string first = dir.file(std::string("a-") + outtype + ".gguf"), back = dir.file(std::string("hf-") + outtype);
    const std::string second = dir.file(std::string("b-") + outtype + ".gguf");
    convert(options(kSample, first, outtype));
    ConvertOptions to_hf = options(first, back, "");
    to_hf.to = "hf";
    convert(to_hf);
    convert(options(back, second, outtype));
    EXPECT_EQ(test::read_file_bytes(first), test::read_file_bytes(second));
  }
  // The HF copy holds the original q_proj rows (bf16 -> f16 is exact for these weights).
  const auto original = read_safetensors(kSample + "/model.safetensors");
  const auto copy = read_safetensors(dir.file("hf-f16") + "/model.safetensors");
  const auto* oq = original.find("model.layers.1.self_attn.q_proj.weight");
  const auto* cq = copy.find("model.layers.1.self_attn.q_proj.weight");
  ASSERT_TRUE(oq && cq);
  EXPECT_EQ(cq->dtype, DType::F16);
  const auto a = original.data(*oq), b = copy.data(*cq);
  for (size_t i = 0; i < 64 * 64; ++i) {
    uint16_t x, y;
    std::memcpy(&x, a.data() + 2 * i, 2);
    std::memcpy(&y, b.data() + 2 * i, 2);
    ASSERT_EQ(bf16_to_f32(x), f16_to_f32(y)) << i;
  }
}

// HF -> GGUF -> HF gives the checkpoint back byte for byte: bf16 matrices stay bf16, and the norms
// llama.cpp widened to F32 come back as the bf16 they were (their values fit it exactly).
TEST(ConvertHf, Bf16CheckpointComesBackByteForByte) {
  test::TempDir dir;
  convert(options(kSample, dir.file("s.gguf"), "bf16"));
  ConvertOptions to_hf = options(dir.file("s.gguf"), dir.file("back"), "");
  to_hf.to = "hf";
  convert(to_hf);
  const auto original = read_safetensors(kSample + "/model.safetensors");
  const auto copy = read_safetensors(dir.file("back") + "/model.safetensors");
  ASSERT_EQ(copy.tensors.size(), original.tensors.size());
  for (const auto& t : original.tensors) {
    const auto* u = copy.find(t.name);
    ASSERT_TRUE(u) << t.name;
    EXPECT_EQ(u->dtype, t.dtype) << t.name;
    const auto a = original.data(t), b = copy.data(*u);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
  }
}

TEST(ConvertHf, SplitsLikeLlamaCppAndReadsTheSetBack) {
  test::TempDir dir;
  ConvertOptions o = options(kSample, dir.file("s.gguf"), "f16");
  o.split.max_tensors = 8;
  const auto report = convert(o);
  ASSERT_EQ(report.outputs.size(), 3u);
  EXPECT_EQ(fs::path(report.outputs[0]).filename(), "s-00001-of-00003.gguf");
  EXPECT_EQ(fs::path(report.outputs[2]).filename(), "s-00003-of-00003.gguf");
  const GgufSet set = open_gguf_set(report.outputs[0]);
  ASSERT_EQ(set.tensors.size(), 21u);
  EXPECT_EQ(set.shards[0].tensors.size(), 8u);
  EXPECT_EQ(set.shards[2].tensors.size(), 5u);
  EXPECT_EQ(set.shards[1].kvs.size(), 3u) << "later shards carry only split.*";
  EXPECT_EQ(set.main().find_kv("split.count")->value.as_u64(), 3u);
  EXPECT_EQ(set.main().find_kv("split.tensors.count")->value.as_u64(), 21u);
  convert(options(kSample, dir.file("whole.gguf"), "f16"));
  const GgufFile whole = read_gguf(dir.file("whole.gguf"));
  for (const auto& e : set.tensors) {
    const auto a = e.shard->data(*e.info), b = whole.data(*whole.find_tensor(e.info->name));
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << e.info->name;
  }
  // Opening a later shard says which one to open.
  test::expect_error(ErrorCode::InvalidArgument, [&] { open_gguf_set(report.outputs[1]); });
  fs::remove(report.outputs[2]);
  test::expect_error(ErrorCode::Io, [&] { open_gguf_set(report.outputs[0]); });
}

TEST(ConvertHf, ShardedCheckpointConvertsLikeTheSingleFile) {
  test::TempDir dir;
  fs::create_directories(dir.path() / "sharded");
  for (const char* f : {"config.json", "tokenizer.json", "tokenizer_config.json"}) fs::copy_file(kSample + "/" + f, dir.path() / "sharded" / f);
  const auto single = read_safetensors(kSample + "/model.safetensors");
  std::vector<TensorToWrite> tensors;
  for (const auto& t : single.tensors) tensors.push_back({t.name, t.dtype, t.shape, write_bytes_from(single.data(t))});
  const auto written = write_safetensors_sharded((dir.path() / "sharded").string(), tensors, 100'000, {{"format", "pt"}});
  ASSERT_GT(written.files.size(), 2u);
  convert(options(kSample, dir.file("a.gguf"), "f16"));
  convert(options((dir.path() / "sharded").string(), dir.file("b.gguf"), "f16"));
  const GgufFile a = read_gguf(dir.file("a.gguf")), b = read_gguf(dir.file("b.gguf"));
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& t : a.tensors) {
    const auto* u = b.find_tensor(t.name);
    ASSERT_TRUE(u) << t.name;
    const auto x = a.data(t), y = b.data(*u);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << t.name;
  }
}

TEST(ConvertHf, RefusesToWriteOverItsInput) {
  test::TempDir dir;
  convert(options(kSample, dir.file("a.gguf"), "f16"));
  ConvertOptions o = options(dir.file("a.gguf"), dir.path().string(), "");
  o.to = "hf";
  test::expect_error(ErrorCode::InvalidArgument, [&] { convert(o); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { convert(options(dir.file("a.gguf"), dir.file("a.gguf"), "f16")); });
}

TEST(ConvertHf, ThreadCountDoesNotChangeTheOutput) {
  test::TempDir dir;
  for (const char* outtype : {"f16", "q8_0"}) {
    ConvertOptions one = options(kSample, dir.file("one.gguf"), outtype), many = options(kSample, dir.file("many.gguf"), outtype);
    one.threads = 1;
    many.threads = 7;
    convert(one);
    convert(many);
    EXPECT_EQ(test::read_file_bytes(dir.file("one.gguf")), test::read_file_bytes(dir.file("many.gguf"))) << outtype;
  }
}

TEST(ConvertHf, DryRunWritesNothing) {
  test::TempDir dir;
  ConvertOptions o = options(kSample, dir.file("d.gguf"), "q8_0");
  o.dry_run = true;
  const auto report = convert(o);
  EXPECT_EQ(report.tensors.size(), 21u);
  EXPECT_FALSE(fs::exists(dir.file("d.gguf")));
}

TEST(ConvertHf, Gpt2TransposesConv1DAndTiesOutput) {
  CKPT_SHARED_OR_SKIP(gpt2, "lm-buddy-fake_gpt2");
  test::TempDir dir;
  convert(options(gpt2, dir.file("g.gguf"), "f32"));
  const GgufFile g = read_gguf(dir.file("g.gguf"));
  const auto src = read_safetensors(gpt2 + "/model.safetensors");
  const auto* c_attn = src.find("transformer.h.0.attn.c_attn.weight");  // Conv1D [in=2, out=6]
  ASSERT_TRUE(c_attn);
  const auto* qkv = g.find_tensor("blk.0.attn_qkv.weight");
  ASSERT_TRUE(qkv);
  EXPECT_EQ(qkv->ne, (std::vector<uint64_t>{2, 6}));  // torch [6, 2] after the transpose
  const auto in = floats_of(src.data(*c_attn)), out = floats_of(g.data(*qkv));
  for (uint64_t o = 0; o < 6; ++o) {
    for (uint64_t i = 0; i < 2; ++i) EXPECT_EQ(out[o * 2 + i], in[i * 6 + o]);
  }
  const auto bias = floats_of(g.data(*g.find_tensor("blk.0.attn_qkv.bias")));
  EXPECT_EQ(bias, floats_of(src.data(*src.find("transformer.h.0.attn.c_attn.bias"))));
  const auto embd = g.data(*g.find_tensor("token_embd.weight")), output = g.data(*g.find_tensor("output.weight"));
  EXPECT_TRUE(std::equal(embd.begin(), embd.end(), output.begin(), output.end()));
  ASSERT_TRUE(g.find_tensor("position_embd.weight"));
  EXPECT_EQ(g.find_kv("gpt2.context_length")->value.as_u64(), 1024u);

  // Back to HF: Conv1D layout restored, lm_head tied again (no output tensor written).
  ConvertOptions back = options(dir.file("g.gguf"), dir.file("hf"), "");
  back.to = "hf";
  convert(back);
  const auto again = read_safetensors(dir.file("hf") + "/model.safetensors");
  EXPECT_FALSE(again.find("lm_head.weight"));
  const auto* c2 = again.find("transformer.h.0.attn.c_attn.weight");
  ASSERT_TRUE(c2);
  EXPECT_EQ(c2->shape, c_attn->shape);
  EXPECT_EQ(floats_of(again.data(*c2)), in);
}

}  // namespace
}  // namespace ckpt
