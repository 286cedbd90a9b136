// bitsandbytes checkpoints on disk: the key family, shapes and quant_state JSON transformers expects,
// and reading them back (also through `ckpt convert`, dequantizing on the fly).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "convert/convert.h"
#include "formats/float_convert.h"
#include "formats/byte_sink.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "quantize/bnb_layout.h"
#include "quantize/quantize.h"
#include "quantize/quantize_bnb.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;
const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

TensorLookup lookup_of(const SafetensorsFile& f) {
  return {[&f](const std::string& n) { return f.find(n); }, [&f](const TensorInfo& t) { return f.data(t); }, f.file->path()};
}

std::vector<float> sample_tensor_f32(const SafetensorsFile& f, const std::string& name) {
  const auto* t = f.find(name);
  std::vector<float> x(*shape_numel(t->shape));
  decode_to_f32(t->dtype, f.data(*t), x);
  return x;
}

TEST(BnbLayout, Nf4DqCheckpointHasTransformersLayoutAndReadsBack) {
  test::TempDir dir;
  QuantizeOptions o;
  o.input = kSample;
  o.output = dir.file("bnb");
  o.type = "nf4-dq";
  quantize_hf_to_bnb(o, *parse_bnb_type("nf4-dq"));
  const auto f = read_safetensors(dir.file("bnb") + "/model.safetensors");
  const std::string w = "model.layers.0.self_attn.v_proj.weight";  // [32, 64]: 2048 values, 32 blocks
  ASSERT_TRUE(f.find(w));
  EXPECT_EQ(f.find(w)->dtype, DType::U8);
  EXPECT_EQ(f.find(w)->shape, (std::vector<uint64_t>{1024, 1}));
  EXPECT_EQ(f.find(w + ".absmax")->dtype, DType::U8);
  EXPECT_EQ(f.find(w + ".absmax")->shape, std::vector<uint64_t>{32});
  EXPECT_EQ(f.find(w + ".nested_absmax")->shape, std::vector<uint64_t>{1});
  EXPECT_EQ(f.find(w + ".nested_quant_map")->shape, std::vector<uint64_t>{256});
  EXPECT_EQ(f.find(w + ".quant_map")->shape, std::vector<uint64_t>{16});
  const auto* state = f.find(w + ".quant_state.bitsandbytes__nf4");
  ASSERT_TRUE(state);
  const auto js = f.data(*state);
  const std::string json(reinterpret_cast<const char*>(js.data()), js.size());
  EXPECT_TRUE(json.starts_with(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "bfloat16", "shape": [32, 64], )"
                               R"("nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": )"))
      << json;
  EXPECT_FALSE(f.find("model.embed_tokens.weight.absmax")) << "embeddings stay unquantized";
  EXPECT_EQ(f.find("model.norm.weight")->dtype, DType::BF16);

  // Read back == quantize + dequantize in memory of the same source values.
  const auto src = read_safetensors(kSample + "/model.safetensors");
  const auto x = sample_tensor_f32(src, w);
  const auto q = quantize_bnb4(x, Bnb4Type::NF4, 64, true);
  std::vector<float> expected(x.size());
  dequantize_bnb4(q.packed, q.absmax, bnb4_code(Bnb4Type::NF4), 64, expected);
  const auto got = dequantize_bnb_weight(lookup_of(f), w);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->shape, (std::vector<uint64_t>{32, 64}));
  EXPECT_EQ(got->values, expected);

  const auto config = nlohmann::json::parse(std::ifstream(dir.file("bnb") + "/config.json"));
  EXPECT_EQ(config["quantization_config"]["bnb_4bit_quant_type"], "nf4");
  EXPECT_EQ(config["quantization_config"]["bnb_4bit_use_double_quant"], true);
  EXPECT_EQ(config["quantization_config"]["quant_method"], "bitsandbytes");

  // convert dequantizes on the fly: the GGUF's v tensor (not permuted) equals the dequantized weight.
  ConvertOptions c;
  c.input = dir.file("bnb");
  c.output = dir.file("bnb.gguf");
  c.outtype = "f32";
  convert(c);
  const auto g = read_gguf(c.output);
  const auto* v = g.find_tensor("blk.0.attn_v.weight");
  ASSERT_TRUE(v);
  std::vector<float> gv(expected.size());
  std::memcpy(gv.data(), g.data(*v).data(), gv.size() * 4);
  EXPECT_EQ(gv, expected);
}

TEST(BnbLayout, Int8ScbWeightsDequantize) {
  // W = int8 * SCB[row] / 127 (bnb int8_vectorwise_dequant): rows scaled by 127 and 254.
  const std::vector<int8_t> q = {127, -127, 64, 0, 1, -2};
  const std::vector<float> scb = {127.0f, 254.0f};
  std::vector<TensorToWrite> tensors = {
      {"l.weight", DType::I8, {2, 3}, write_bytes_from(std::as_bytes(std::span(q)))},
      {"l.SCB", DType::F32, {2}, write_bytes_from(std::as_bytes(std::span(scb)))}};
  test::TempDir dir;
  write_safetensors(dir.file("m.safetensors"), tensors, {});
  const auto f = read_safetensors(dir.file("m.safetensors"));
  const auto w = dequantize_bnb_weight(lookup_of(f), "l.weight");
  ASSERT_TRUE(w);
  EXPECT_NEAR(w->values[0], 127.0f, 1e-4f);
  EXPECT_NEAR(w->values[1], -127.0f, 1e-4f);
  EXPECT_NEAR(w->values[2], 64.0f, 1e-4f);
  EXPECT_NEAR(w->values[4], 2.0f, 1e-5f);
  EXPECT_NEAR(w->values[5], -4.0f, 1e-5f);
}

TEST(BnbLayout, InconsistentFamiliesAreErrors) {
  const std::vector<uint8_t> packed(2);
  const std::vector<float> absmax = {1.0f}, qmap(16, 0.0f);
  auto family = [&](const std::string& json, uint64_t packed_len) {
    auto js = std::make_shared<std::string>(json);
    std::vector<TensorToWrite> t = {
        {"l.weight", DType::U8, {packed_len, 1}, write_bytes_from(std::as_bytes(std::span(packed)).first(packed_len))},
        {"l.weight.absmax", DType::F32, {1}, write_bytes_from(std::as_bytes(std::span(absmax)))},
        {"l.weight.quant_map", DType::F32, {16}, write_bytes_from(std::as_bytes(std::span(qmap)))},
        {"l.weight.quant_state.bitsandbytes__nf4", DType::U8, {js->size()}, [js](ByteSink& s) { s.write_text(*js); }}};
    BufferSink sink;
    write_safetensors(sink, t, {});
    return sink.take();
  };
  auto read_family = [&](const std::vector<std::byte>& bytes) {
    const auto f = read_safetensors(test::memory_file(bytes, "bnb.safetensors"));
    return dequantize_bnb_weight(lookup_of(f), "l.weight");
  };
  EXPECT_NO_THROW(read_family(family(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [2, 2]})", 2)));
  test::expect_error(ErrorCode::BadJson, [&] { read_family(family(R"({"quant_type": "fp4", "blocksize": 64, "dtype": "float16", "shape": [2, 2]})", 2)); });
  test::expect_error(ErrorCode::BadShape, [&] { read_family(family(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "float16", "shape": [4, 4]})", 2)); });
  test::expect_error(ErrorCode::BadShape, [&] { read_family(family(R"({"quant_type": "nf4", "blocksize": 48, "dtype": "float16", "shape": [2, 2]})", 2)); });
  test::expect_error(ErrorCode::BadJson, [&] { read_family(family(R"({"quant_type": "nf4", "blocksize": 64, "dtype": "int8", "shape": [2, 2]})", 2)); });
}

}  // namespace
}  // namespace ckpt
