// GGUF types newer than ckpt's quantizers (MXFP4 as gpt-oss ships its experts): a file holding them is
// inspected, converted back to HF (dequantized) and run, instead of being refused as "invalid".
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "inspect/inspect.h"
#include "quantize/quantize.h"
#include "runtime/runtime.h"
#include "tests/support/lora_fixture.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using namespace ckpt::test::lora;

TEST(ModernGguf, Mxfp4TensorsInspectConvertBackAndRun) {
  test::TempDir tmp;
  std::mt19937 rng(41);
  make_base(tmp.file("base"), DType::F32, rng);
  to_gguf(tmp.file("base"), tmp.file("f32.gguf"), "f32");
  // Rewrite blk.0.ffn_up.weight (ne {64, 192}) as MXFP4 blocks made here.
  const GgufFile src = read_gguf(tmp.file("f32.gguf"));
  std::vector<GgufTensorToWrite> tensors;
  std::vector<std::byte> mx(192 * 2 * 17);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t b = 0; b < 192 * 2; ++b) {
    mx[b * 17] = static_cast<std::byte>(120 + b % 8);  // scales 2^-7 .. 2^0
    for (int j = 1; j < 17; ++j) mx[b * 17 + j] = static_cast<std::byte>(byte(rng));
  }
  for (const auto& t : src.tensors) {
    if (t.name == "blk.0.ffn_up.weight") {
      tensors.push_back({t.name, t.ne, DType::MXFP4, write_bytes_from(mx)});
    } else {
      tensors.push_back({t.name, t.ne, t.dtype, write_bytes_from(src.file, src.data(t))});
    }
  }
  write_gguf(tmp.file("mx.gguf"), src.kvs, tensors);

  InspectOptions io;
  const InspectReport report = inspect_path(tmp.file("mx.gguf"), io);
  EXPECT_NE(render_inspect_text(report).find("MXFP4"), std::string::npos);

  ConvertOptions back;
  back.input = tmp.file("mx.gguf");
  back.output = tmp.file("hf");
  back.to = "hf";
  back.outtype = "f32";
  convert(back);
  const Tensors hf = read_tensors(tmp.file("hf"));
  std::vector<float> want(192 * 64);
  decode_to_f32(DType::MXFP4, mx, want);
  const auto& got = hf.at("model.layers.0.mlp.up_proj.weight").v;
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(got[i], want[i]) << i;

  runtime::Model m = runtime::load_model(tmp.file("mx.gguf"));
  runtime::Forward f(m, 16, 2, runtime::KvType::F32);
  const std::vector<int32_t> tokens = {1, 7, 99};
  for (float v : f.eval(tokens)) ASSERT_TRUE(std::isfinite(v));
}

}  // namespace
}  // namespace ckpt
