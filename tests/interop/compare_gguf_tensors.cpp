// Compares the tensors of two GGUFs: same names, same types, byte-identical data. Prints one line per
// tensor and exits 1 on any difference (naming the first differing block). Metadata is not compared.
#include <cstdio>
#include <cstring>

#include "formats/gguf.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  try {
    const auto a = ckpt::read_gguf(argv[1]);
    const auto b = ckpt::read_gguf(argv[2]);
    int bad = 0;
    if (a.tensors.size() != b.tensors.size()) {
      std::printf("tensor counts differ: %zu vs %zu\n", a.tensors.size(), b.tensors.size());
      bad = 1;
    }
    for (const auto& t : a.tensors) {
      const auto* u = b.find_tensor(t.name);
      if (!u) {
        std::printf("%-32s missing in %s\n", t.name.c_str(), argv[2]);
        bad = 1;
        continue;
      }
      const auto x = a.data(t), y = b.data(*u);
      const bool same_type = t.dtype == u->dtype;
      size_t first_diff = SIZE_MAX;
      if (same_type && x.size() == y.size()) {
        for (size_t i = 0; i < x.size(); ++i) {
          if (x[i] != y[i]) {
            first_diff = i;
            break;
          }
        }
      }
      const bool ok = same_type && first_diff == SIZE_MAX;
      const auto block = ckpt::dtype_info(t.dtype).block_bytes;
      std::printf("%-32s %-6s %-6s %s", t.name.c_str(), std::string(ckpt::dtype_name(t.dtype)).c_str(),
                  std::string(ckpt::dtype_name(u->dtype)).c_str(), ok ? "identical" : "DIFFERENT");
      if (same_type && first_diff != SIZE_MAX) std::printf(" (first difference in block %zu)", first_diff / block);
      std::printf("\n");
      bad |= !ok;
    }
    return bad;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_gguf_tensors: %s\n", e.what());
    return 2;
  }
}
