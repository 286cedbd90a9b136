// Output safety and signal cleanup: outputs never replace inputs, staged directories appear in one
// step, temporaries vanish on SIGINT and are swept after kill -9, and a mapped input truncated while
// it is read becomes the one-line error (death tests run each case in a child process).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "formats/byte_sink.h"
#include "formats/mapped_file.h"
#include "formats/output_guard.h"
#include "formats/signal_cleanup.h"
#include "tests/support/test_support.h"

namespace ckpt {
namespace {

namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

size_t count_temporaries(const fs::path& dir) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    n += name.find(".ckpt-tmp-") != std::string::npos || name.find(".ckpt-stage-") != std::string::npos;
  }
  return n;
}

// A pid that existed and is gone now.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

TEST(OutputGuard, RefusesEveryAliasOfAnInput) {
  test::TempDir dir;
  const auto in = dir.path() / "model.gguf";
  write_text(in, "x");
  fs::create_hard_link(in, dir.path() / "hardlink.gguf");
  fs::create_symlink(in, dir.path() / "symlink.gguf");
  for (const char* alias : {"model.gguf", "hardlink.gguf", "symlink.gguf", "./model.gguf"}) {
    test::expect_error(ErrorCode::InvalidArgument,
                       [&] { check_output_path((dir.path() / alias).string(), {in.string()}, false); });
  }
  // A file of an input directory, the directory itself, and a directory holding the input.
  fs::create_directories(dir.path() / "hf");
  write_text(dir.path() / "hf" / "model.safetensors", "y");
  const std::string hf = (dir.path() / "hf").string();
  test::expect_error(ErrorCode::InvalidArgument, [&] { check_output_path(hf + "/model.safetensors", {hf}, false); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { check_output_path(hf, {hf}, true); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { check_output_path(dir.path().string(), {in.string()}, true); });
  // New files beside the input are fine.
  check_output_path(hf + "/model.gguf", {hf}, false);
  check_output_path((dir.path() / "out").string(), {hf}, true);
}

TEST(OutputGuard, RefusesDevicesFifosAndDirectoriesAsFiles) {
  test::TempDir dir;
  const auto fifo = dir.path() / "out.gguf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  test::expect_error(ErrorCode::InvalidArgument, [&] { check_output_path(fifo.string(), {}, false); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { check_output_path("/dev/null", {}, false); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { check_output_path(dir.path().string(), {}, false); });
  test::expect_error(ErrorCode::InvalidArgument, [&] { AtomicFileSink sink(fifo.string()); });
}

TEST(StagingDir, AppearsInOneStepOrNotAtAll) {
  test::TempDir dir;
  const auto dest = dir.path() / "out";
  {
    StagingDir stage(dest.string(), false);
    write_text(fs::path(stage.path()) / "a.txt", "a");
    EXPECT_FALSE(fs::exists(dest)) << "nothing appears before commit";
  }  // destroyed without commit
  EXPECT_FALSE(fs::exists(dest));
  EXPECT_EQ(count_temporaries(dir.path()), 0u);
  {
    StagingDir stage(dest.string(), false);
    write_text(fs::path(stage.path()) / "a.txt", "a");
    stage.commit();
  }
  EXPECT_TRUE(fs::exists(dest / "a.txt"));
  test::expect_error(ErrorCode::InvalidArgument, [&] { StagingDir again(dest.string(), false); });
  {
    StagingDir stage(dest.string(), /*force=*/true);
    write_text(fs::path(stage.path()) / "b.txt", "b");
    stage.commit();
  }
  EXPECT_TRUE(fs::exists(dest / "b.txt"));
  EXPECT_FALSE(fs::exists(dest / "a.txt")) << "--force replaces the old directory whole";
  EXPECT_EQ(count_temporaries(dir.path()), 0u);
}

TEST(StagingDir, FilesBesideMoveTogether) {
  test::TempDir dir;
  const auto dest = dir.path() / "model.gguf";
  {
    StagingDir stage(dest.string(), false, StagingDir::Mode::FilesBeside);
    write_text(fs::path(stage.path()) / "model-00001-of-00002.gguf", "1");
    write_text(fs::path(stage.path()) / "model-00002-of-00002.gguf", "2");
    EXPECT_FALSE(fs::exists(dir.path() / "model-00001-of-00002.gguf"));
    stage.commit();
  }
  EXPECT_TRUE(fs::exists(dir.path() / "model-00001-of-00002.gguf"));
  EXPECT_TRUE(fs::exists(dir.path() / "model-00002-of-00002.gguf"));
  EXPECT_EQ(count_temporaries(dir.path()), 0u);
}

// A shard that cannot be moved into place (a directory holds its name) fails the commit, and the shards
// already moved are taken back out: never a partial set.
TEST(StagingDir, FilesBesideFailingHalfwayLeavesNoPartialSet) {
  test::TempDir dir;
  const auto dest = dir.path() / "model.gguf";
  fs::create_directories(dir.path() / "model-00002-of-00002.gguf" / "occupied");
  {
    StagingDir stage(dest.string(), false, StagingDir::Mode::FilesBeside);
    write_text(fs::path(stage.path()) / "model-00001-of-00002.gguf", "1");
    write_text(fs::path(stage.path()) / "model-00002-of-00002.gguf", "2");
    test::expect_error(ErrorCode::Io, [&] { stage.commit(); });
  }
  EXPECT_FALSE(fs::exists(dir.path() / "model-00001-of-00002.gguf"));
  EXPECT_EQ(count_temporaries(dir.path()), 0u);
}

TEST(SignalCleanup, StaleTemporariesOfDeadWritersAreSwept) {
  test::TempDir dir;
  const auto dest = dir.path() / "model.gguf";
  const std::string stale = temporary_prefix(dest.string(), false) + std::to_string(dead_pid()) + "-abcdef";
  const std::string live = temporary_prefix(dest.string(), false) + std::to_string(::getpid()) + "-ghijkl";
  const std::string stale_dir = temporary_prefix((dir.path() / "hf").string(), true) + std::to_string(dead_pid()) + "-mnopqr";
  write_text(stale, "half");
  write_text(live, "being written");
  fs::create_directories(stale_dir);
  write_text(fs::path(stale_dir) / "config.json", "{}");
  {
    AtomicFileSink sink(dest.string());
    sink.write_text("whole");
    sink.commit();
  }
  EXPECT_FALSE(fs::exists(stale)) << "a dead writer's temporary is removed by the next run to the destination";
  EXPECT_TRUE(fs::exists(live)) << "a live writer's temporary is left alone";
  StagingDir stage((dir.path() / "hf").string(), false);
  EXPECT_FALSE(fs::exists(stale_dir));
}

TEST(SignalCleanupDeathTest, SigintRemovesTemporariesAndDiesOfTheSignal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir dir;
  const auto dest = dir.path() / "model.gguf";
  EXPECT_EXIT(
      {
        install_signal_cleanup();
        AtomicFileSink sink(dest.string());
        sink.write_text("half of it");
        StagingDir stage((dir.path() / "hf").string(), false);
        write_text(fs::path(stage.path()) / "config.json", "{}");
        ::raise(SIGINT);
      },
      testing::KilledBySignal(SIGINT), "");
  EXPECT_EQ(count_temporaries(dir.path()), 0u);
  EXPECT_FALSE(fs::exists(dest));
}

TEST(SignalCleanupDeathTest, TruncatedInputIsAnErrorLineNotACrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir dir;
  const auto path = dir.path() / "input.safetensors";
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  write_text(path, std::string(4 * page, 'x'));
  const auto dest = dir.path() / "out.gguf";
  EXPECT_EXIT(
      {
        install_signal_cleanup();
        const auto file = MappedFile::open(path.string());
        AtomicFileSink sink(dest.string());
        ::truncate(path.c_str(), 0);  // another process shortens the file while we read it
        volatile std::byte b = file->bytes()[2 * page + 5];
        (void)b;
      },
      testing::ExitedWithCode(1),
      "ckpt: error: .*input.safetensors: offset " + std::to_string(2 * page + 5) + " .*truncated or changed on disk");
  EXPECT_EQ(count_temporaries(dir.path()), 0u) << "the half-written output is removed";
}

}  // namespace
}  // namespace ckpt

namespace ckpt {
namespace {

// Bytes copied in the kernel (copy_file_range) land exactly where buffered writes would have put them.
TEST(AtomicFileSink, KernelCopiedRangesInterleaveWithBufferedWrites) {
  test::TempDir dir;
  std::vector<std::byte> input(3 << 20);
  for (size_t i = 0; i < input.size(); ++i) input[i] = static_cast<std::byte>((i * 131) >> 3);
  test::write_file_bytes(dir.file("in.bin"), input);
  const auto file = MappedFile::open(dir.file("in.bin"));
  {
    AtomicFileSink sink(dir.file("out.bin"));
    sink.write_text("head");
    sink.write_from(*file, file->bytes().subspan(100, (2 << 20) + 7));  // large: copied in the kernel
    sink.write_text("mid");
    sink.write_from(*file, file->bytes().subspan(5, 10));  // small: through the buffer
    EXPECT_EQ(sink.position(), 4u + (2u << 20) + 7u + 3u + 10u);
    sink.commit();
  }
  std::vector<std::byte> expected;
  auto append = [&](std::span<const std::byte> b) { expected.insert(expected.end(), b.begin(), b.end()); };
  append(test::as_bytes("head"));
  append(std::span(input).subspan(100, (2 << 20) + 7));
  append(test::as_bytes("mid"));
  append(std::span(input).subspan(5, 10));
  EXPECT_EQ(test::read_file_bytes(dir.file("out.bin")), expected);
}

}  // namespace
}  // namespace ckpt
