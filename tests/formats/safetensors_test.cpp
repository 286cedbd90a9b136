// safetensors: golden bytes from the reference implementation's tests (spec §A.4), round trips of
// every dtype and shape, the safetensors project's own sample files, and byte-identical rewrites of
// files written by transformers.
#include <gtest/gtest.h>

#include <random>

#include "formats/byte_sink.h"
#include "formats/float_convert.h"
#include "formats/safetensors.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

using test::as_bytes;
using test::memory_file;

std::string as_string(const std::vector<std::byte>& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

std::vector<std::byte> serialize(std::vector<TensorToWrite> tensors, const Metadata& metadata = {}) {
  BufferSink sink;
  write_safetensors(sink, std::move(tensors), metadata);
  return sink.take();
}

TEST(Safetensors, GoldenEmptyFiles) {
  EXPECT_EQ(as_string(serialize({})), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  const std::string with_meta = as_string(serialize({}, {{"framework", "pt"}}));
  EXPECT_EQ(with_meta, std::string("\x28\0\0\0\0\0\0\0", 8) + "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
}

TEST(Safetensors, GoldenSingleAndTwoTensorFiles) {
  const std::vector<std::byte> zeros16(16), zeros8(8);
  const auto one = serialize({{"test", DType::I32, {2, 2}, write_bytes_from(zeros16)}});
  const std::string header = "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}    ";
  EXPECT_EQ(as_string(one), std::string("\x40\0\0\0\0\0\0\0", 8) + header + std::string(16, '\0'));

  // Given F16 first, the writer still puts the I32 (larger alignment) first.
  const auto two = serialize({{"test2", DType::F16, {2, 2}, write_bytes_from(zeros8)},
                              {"test1", DType::I32, {2, 2}, write_bytes_from(zeros16)}});
  uint64_t n;
  std::memcpy(&n, two.data(), 8);
  EXPECT_EQ(n, 0x80u);
  const auto file = read_safetensors(memory_file(two));
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].name, "test1");
  EXPECT_EQ(file.tensors[0].offset_in_file, 8u + 0x80u);
  EXPECT_EQ(file.tensors[1].name, "test2");
  EXPECT_EQ(file.tensors[1].offset_in_file, 8u + 0x80u + 16u);
}

TEST(Safetensors, ReaderAcceptsReferenceEdgeCases) {
  // Scalar, zero-sized tensors sharing an offset, and JSON whitespace before/after the object.
  const std::vector<std::byte> four(4);
  auto f = read_safetensors(memory_file(test::safetensors_bytes(
      R"({"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[2,0],"data_offsets":[4,4]},"y":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
      four)));
  EXPECT_EQ(f.tensors.size(), 3u);
  EXPECT_TRUE(f.find("s")->shape.empty());
  EXPECT_NO_THROW(read_safetensors(memory_file(test::safetensors_bytes("{}\r \t\n"))));
  EXPECT_NO_THROW(read_safetensors(memory_file(test::safetensors_bytes("\t\n{}\r "))));
}

struct DTypeShapeCase {
  DType dtype;
  std::vector<uint64_t> shape;
};

TEST(Safetensors, RoundTripEveryDTypeAndShape) {
  std::mt19937_64 rng(test::test_seed());
  const std::vector<std::vector<uint64_t>> shapes = {{}, {0}, {2, 0}, {8}, {4, 6}, {2, 3, 4}, {2, 1, 3, 4}, {1, 1, 1, 1, 1}};
  std::vector<std::vector<std::byte>> buffers;
  std::vector<TensorToWrite> tensors;
  for (const auto& info : kDTypes) {
    if (info.safetensors_name.empty()) continue;
    for (size_t s = 0; s < shapes.size(); ++s) {
      const uint64_t numel = *shape_numel(shapes[s]);
      const auto n_bytes = dtype_bytes_for(info.dtype, numel);
      if (!n_bytes) continue;  // e.g. a scalar F4 is half a byte: not representable
      auto& buf = buffers.emplace_back(*n_bytes);
      for (auto& b : buf) b = static_cast<std::byte>(rng());
      tensors.push_back({std::string(info.name) + "/" + std::to_string(s), info.dtype, shapes[s], write_bytes_from(buf)});
    }
  }
  const size_t n_tensors = tensors.size();
  std::vector<TensorToWrite> expected = tensors;
  const auto bytes = serialize(std::move(tensors), {{"format", "pt"}, {"note", "ü\n\"quoted\""}});
  const auto file = read_safetensors(memory_file(bytes));
  ASSERT_EQ(file.tensors.size(), n_tensors);
  ASSERT_EQ(file.metadata.size(), 2u);
  EXPECT_EQ(file.metadata[1].second, "ü\n\"quoted\"");
  EXPECT_EQ(file.data_offset() % 8, 0u);
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto* t = file.find(expected[i].name);
    ASSERT_TRUE(t) << expected[i].name;
    EXPECT_EQ(t->dtype, expected[i].dtype);
    EXPECT_EQ(t->shape, expected[i].shape);
    const auto data = file.data(*t);
    ASSERT_EQ(data.size(), buffers[i].size());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), buffers[i].begin())) << expected[i].name;
    // Natural alignment: every tensor starts at a multiple of its element size.
    const auto& di = dtype_info(t->dtype);
    if (di.block_elems == 1) EXPECT_EQ(t->offset_in_file % di.block_bytes, 0u) << t->name;
  }
  // Writing what we read gives the same bytes (order invariance of the writer).
  std::vector<TensorToWrite> again;
  for (auto it = file.tensors.rbegin(); it != file.tensors.rend(); ++it) {
    again.push_back({it->name, it->dtype, it->shape, write_bytes_from(file.data(*it))});
  }
  EXPECT_EQ(serialize(std::move(again), file.metadata), bytes);
}

TEST(Safetensors, WriterRefusesWhatReadersCannotRead) {
  const std::vector<std::byte> two(2);
  test::expect_error(ErrorCode::InvalidArgument, [&] { serialize({{"q", DType::Q4_0, {32}, write_bytes_from(two)}}); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { serialize({{"f", DType::F4, {1, 3}, write_bytes_from(two)}}); });
  test::expect_error(ErrorCode::InvalidArgument, [&] {
    serialize({{"a", DType::U8, {2}, write_bytes_from(two)}, {"a", DType::U8, {2}, write_bytes_from(two)}});
  });
  // A data writer that produces the wrong byte count (F4 [1,2] is one byte, not two).
  test::expect_error(ErrorCode::SizeMismatch, [&] { serialize({{"f", DType::F4, {1, 2}, write_bytes_from(two)}}); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { serialize({}, {{"big", std::string(100'000'000, 'a')}}); });
}

// The samples from huggingface/safetensors hold arange(-3, 3) in each dtype with __metadata__ {"test": "a"}.
TEST(Safetensors, ReadsTheReferenceSampleFiles) {
  CKPT_SHARED_OR_SKIP(overall, "hf-safetensors-samples/overall.safetensors");
  const auto file = read_safetensors(overall);
  ASSERT_EQ(file.tensors.size(), 9u);
  ASSERT_EQ(file.metadata.size(), 1u);
  EXPECT_EQ(file.metadata[0], (std::pair<std::string, std::string>{"test", "a"}));
  auto values = [&](const char* name) {
    const auto* t = file.find(name);
    EXPECT_TRUE(t) << name;
    EXPECT_EQ(t->shape, std::vector<uint64_t>{6});
    std::vector<double> out;
    const auto d = file.data(*t);
    for (size_t i = 0; i < 6; ++i) {
      const std::byte* p = d.data() + i * dtype_info(t->dtype).block_bytes;
      switch (t->dtype) {
        case DType::U8: out.push_back(static_cast<uint8_t>(*p)); break;
        case DType::I8: out.push_back(static_cast<int8_t>(*p)); break;
        case DType::U16: { uint16_t v; std::memcpy(&v, p, 2); out.push_back(v); break; }
        case DType::I16: { int16_t v; std::memcpy(&v, p, 2); out.push_back(v); break; }
        case DType::U32: { uint32_t v; std::memcpy(&v, p, 4); out.push_back(v); break; }
        case DType::I32: { int32_t v; std::memcpy(&v, p, 4); out.push_back(v); break; }
        case DType::F16: { uint16_t v; std::memcpy(&v, p, 2); out.push_back(f16_to_f32(v)); break; }
        case DType::F32: { float v; std::memcpy(&v, p, 4); out.push_back(v); break; }
        case DType::F64: { double v; std::memcpy(&v, p, 8); out.push_back(v); break; }
        default: ADD_FAILURE() << "unexpected dtype";
      }
    }
    return out;
  };
  const std::vector<double> signed_range = {-3, -2, -1, 0, 1, 2};
  for (const char* n : {"b", "h", "i", "e", "f", "d"}) EXPECT_EQ(values(n), signed_range) << n;
  EXPECT_EQ(values("B"), (std::vector<double>{253, 254, 255, 0, 1, 2}));
  EXPECT_EQ(values("H"), (std::vector<double>{65533, 65534, 65535, 0, 1, 2}));
  EXPECT_EQ(values("I"), (std::vector<double>{4294967293.0, 4294967294.0, 4294967295.0, 0, 1, 2}));
  for (const char* single : {"B", "H", "I", "b", "d", "e", "f", "h", "i"}) {
    const std::string path = test::shared_data(std::string("hf-safetensors-samples/") + single + ".safetensors");
    const auto one = read_safetensors(path);
    ASSERT_EQ(one.tensors.size(), 1u) << single;
    EXPECT_EQ(one.tensors[0].name, single);
  }
}

// transformers 4.36 wrote this file with the Rust serializer: our writer must reproduce it exactly.
TEST(Safetensors, RewritingTransformersFilesIsByteIdentical) {
  for (const char* rel : {"lm-buddy-fake_gpt2/model.safetensors", "peft-gpt2-lora-tigrinya/adapter_model.safetensors"}) {
    CKPT_SHARED_OR_SKIP(path, rel);
    const auto file = read_safetensors(path);
    std::vector<TensorToWrite> tensors;
    for (const auto& t : file.tensors) tensors.push_back({t.name, t.dtype, t.shape, write_bytes_from(file.data(t))});
    const auto rewritten = serialize(std::move(tensors), file.metadata);
    const auto original = file.file->bytes();
    ASSERT_EQ(rewritten.size(), original.size()) << rel;
    EXPECT_TRUE(std::equal(rewritten.begin(), rewritten.end(), original.begin())) << rel;
  }
}

TEST(Safetensors, AtomicWriteLeavesNoPartialFileOnFailure) {
  test::TempDir dir;
  const std::string path = dir.file("out.safetensors");
  const std::vector<std::byte> four(4);
  write_safetensors(path, {{"a", DType::F32, {1}, write_bytes_from(four)}}, {});
  const auto before = test::read_file_bytes(path);
  // The second write fails half-way (the data writer throws): the first file must be untouched.
  EXPECT_THROW(write_safetensors(path, {{"a", DType::F32, {1}, [](ByteSink&) { throw std::runtime_error("boom"); }}}, {}),
               std::runtime_error);
  EXPECT_EQ(test::read_file_bytes(path), before);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u) << "temporary file left behind";
}

}  // namespace
}  // namespace ckpt
