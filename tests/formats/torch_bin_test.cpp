// pytorch_model.bin: a state dict built in torch.save's layout reads back; hostile pickles are refused
// without running anything.
#include <gtest/gtest.h>

#include "formats/torch_bin.h"
#include "tests/support/test_support.h"
#include "tests/support/torch_bin_writer.h"

namespace ckpt {
namespace {

using namespace std::string_literals;

std::vector<std::byte> f32_bytes(std::initializer_list<float> v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), std::data(v), b.size());
  return b;
}

TorchBinFile read(const std::vector<std::byte>& bytes) { return read_torch_bin(test::memory_file(bytes, "model.bin")); }

TEST(TorchBin, ReadsAStateDict) {
  const auto bytes = test::torch_save_bytes({{"layer.weight", DType::F32, {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})},
                                             {"layer.bias", DType::F16, {2}, std::vector<std::byte>(4, std::byte{0x3c})}});
  const auto file = read(bytes);
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].name, "layer.weight");
  EXPECT_EQ(file.tensors[0].shape, (std::vector<uint64_t>{2, 3}));
  float v[6];
  std::memcpy(v, file.tensors[0].data.data(), 24);
  EXPECT_EQ(v[5], 6.0f);
  EXPECT_EQ(file.tensors[1].dtype, DType::F16);
}

TEST(TorchBin, RefusesPicklesThatWouldRunCode) {
  struct Case {
    const char* name;
    std::string pickle;
    const char* mentions;
  };
  const std::vector<Case> cases = {
      {"os.system via GLOBAL", "\x80\x02" "cposix\nsystem\n" "X\x02\x00\x00\x00" "ls\x85R."s, "posix.system"},
      {"eval via STACK_GLOBAL", "\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93" "X\x01\x00\x00\x00" "1\x85R."s, "builtins.eval"},
      {"__reduce__ of subprocess.Popen", "\x80\x02" "csubprocess\nPopen\n)R."s, "subprocess.Popen"},
      {"INST opcode", "\x80\x02(ios\nsystem\n."s, "opcode"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const Error e = test::expect_error(ErrorCode::Unsupported, [&] { read(test::torch_archive_with_pickle(c.pickle)); });
    EXPECT_NE(std::string(e.what()).find(c.mentions), std::string::npos) << e.what();
  }
}

TEST(TorchBin, RefusesBrokenArchives) {
  const auto good = test::torch_save_bytes({{"w", DType::F32, {2}, f32_bytes({1, 2})}});
  auto cut = good;
  cut.resize(good.size() / 2);
  test::expect_error(ErrorCode::Truncated, [&] { read(cut); });
  test::expect_error(ErrorCode::BadMagic, [&] { read(std::vector<std::byte>(64, std::byte{'x'})); });
  // Tensor larger than its storage.
  auto spec = std::vector<test::TorchTensorSpec>{{"w", DType::F32, {4}, f32_bytes({1, 2})}};
  test::expect_error(ErrorCode::Truncated, [&] { read(test::torch_save_bytes(spec)); });
  // Storage entry missing from the archive.
  test::expect_error(ErrorCode::NotFound, [&] {
    read(test::torch_archive_with_pickle(test::state_dict_pickle({{"w", DType::F32, {2}, f32_bytes({1, 2})}})));
  });
  // Memo get of a slot never set; a stack underflow.
  test::expect_error(ErrorCode::NotFound, [&] { read(test::torch_archive_with_pickle("\x80\x02h\x05."s)); });
  test::expect_error(ErrorCode::BadValueType, [&] { read(test::torch_archive_with_pickle("\x80\x02s."s)); });
  // Every truncation of a valid archive fails cleanly.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(read(std::vector<std::byte>(good.begin(), good.begin() + static_cast<long>(n))), Error) << n;
  }
}

}  // namespace
}  // namespace ckpt
