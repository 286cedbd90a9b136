// Writes a torch.save-style archive whose data.pkl would call os.system("ls") if unpickled by Python.
#include <fstream>

#include "tests/support/torch_bin_writer.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using namespace std::string_literals;
  const auto bytes = ckpt::test::torch_archive_with_pickle("\x80\x02" "cposix\nsystem\n" "X\x02\x00\x00\x00" "ls\x85R."s);
  std::ofstream(argv[1], std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return 0;
}
