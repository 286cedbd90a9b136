// ckpt diff against statistics computed here in float64 from the values the test wrote: tensors only
// in one side, shape differences, max |a - b|, relative error and cosine; an HF checkpoint against its
// own f32 GGUF (Q/K rows permuted there) is equal; against a Q8_0 GGUF the statistics of an
// unpermuted tensor equal those computed from the GGUF's decoded blocks.
#include <gtest/gtest.h>

#include <cmath>

#include "convert/convert.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "inspect/diff.h"
#include "quantize/quantize.h"
#include "runtime/runtime.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

const std::string kSample = std::string(CKPT_SOURCE_DIR) + "/samples/tiny-llama";

void write_st(const std::string& path, const std::vector<std::pair<std::string, std::vector<float>>>& tensors) {
  std::vector<TensorToWrite> out;
  for (const auto& [name, v] : tensors) {
    out.push_back({name, DType::F32, {2, v.size() / 2}, write_bytes_from(std::as_bytes(std::span(v)))});
  }
  write_safetensors(path, std::move(out), {});
}

TEST(Diff, StatisticsEqualAFloat64Reference) {
  test::TempDir dir;
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {1, 2.5f, 3, 4, -5, 6};
  write_st(dir.file("a.safetensors"), {{"w", a}, {"only_a", {1, 2}}, {"s", {1, 2, 3, 4}}});
  write_st(dir.file("b.safetensors"), {{"w", b}, {"only_b", {1, 2}}, {"s", {1, 2, 3, 4, 5, 6}}});
  const DiffReport r = diff_models(dir.file("a.safetensors"), dir.file("b.safetensors"), 1);
  EXPECT_EQ(r.only_a, std::vector<std::string>{"only_a"});
  EXPECT_EQ(r.only_b, std::vector<std::string>{"only_b"});
  ASSERT_EQ(r.common.size(), 2u);
  const TensorDiff* w = r.common[0].name == "w" ? &r.common[0] : &r.common[1];
  const TensorDiff* s = r.common[0].name == "s" ? &r.common[0] : &r.common[1];
  EXPECT_FALSE(s->compared);
  EXPECT_EQ(s->note, "shapes differ");
  double dot = 0, na = 0, nb = 0, d2 = 0, mx = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += double{a[i]} * b[i], na += double{a[i]} * a[i], nb += double{b[i]} * b[i];
    d2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
    mx = std::max(mx, std::abs(double{a[i]} - b[i]));
  }
  ASSERT_TRUE(w->compared);
  EXPECT_DOUBLE_EQ(w->max_abs, mx);  // 10
  EXPECT_DOUBLE_EQ(w->rel_error, std::sqrt(d2 / nb));
  EXPECT_DOUBLE_EQ(w->cosine, dot / std::sqrt(na * nb));
  EXPECT_FALSE(r.equal(100));  // names differ, whatever the tolerance
}

TEST(Diff, HfAgainstItsGgufUndoesThePermutation) {
  test::TempDir dir;
  ConvertOptions o;
  o.input = kSample;
  o.output = dir.file("f32.gguf");
  o.outtype = "f32";
  convert(o);
  const DiffReport same = diff_models(kSample, dir.file("f32.gguf"), 2);
  EXPECT_TRUE(same.only_a.empty() && same.only_b.empty());
  EXPECT_EQ(same.common.size(), 21u);
  EXPECT_TRUE(same.equal(0));  // bf16 -> f32 is exact, and q/k rows go back where they were
  o.output = dir.file("q8.gguf");
  o.outtype = "q8_0";
  convert(o);
  const DiffReport q = diff_models(dir.file("q8.gguf"), kSample, 2);  // either order
  EXPECT_FALSE(q.equal(0));
  EXPECT_TRUE(q.equal(0.01));
  // The reference for an unpermuted tensor: the HF bf16 values against the GGUF's blocks decoded here.
  const auto st = read_safetensors(kSample + "/model.safetensors");
  const auto* hf = st.find("model.layers.0.mlp.down_proj.weight");
  std::vector<float> x(64 * 192), y(64 * 192);
  decode_to_f32(DType::BF16, st.data(*hf), x);
  const GgufFile g = read_gguf(dir.file("q8.gguf"));
  decode_to_f32(DType::Q8_0, g.data(*g.find_tensor("blk.0.ffn_down.weight")), y);
  double mx = 0, d2 = 0, nb = 0;
  for (size_t i = 0; i < x.size(); ++i) mx = std::max(mx, std::abs(double{x[i]} - y[i])), d2 += (double{x[i]} - y[i]) * (double{x[i]} - y[i]), nb += double{x[i]} * x[i];
  bool found = false;
  for (const auto& t : q.common) {
    if (t.name != "model.layers.0.mlp.down_proj.weight") continue;  // A is the HF side after the swap
    found = true;
    EXPECT_DOUBLE_EQ(t.max_abs, mx);
    EXPECT_NEAR(t.rel_error, std::sqrt(d2 / nb), 1e-3 * std::sqrt(d2 / nb));  // normalised by the other side's norm
  }
  EXPECT_TRUE(found);
}

TEST(Diff, ArchivesCompareLikeTheirSources) {
  test::TempDir dir;
  ConvertOptions o;
  o.input = kSample;
  o.output = dir.file("s.ckpt");
  convert(o);
  EXPECT_TRUE(diff_models(kSample, dir.file("s.ckpt"), 2).equal(0));
}

}  // namespace
}  // namespace ckpt
