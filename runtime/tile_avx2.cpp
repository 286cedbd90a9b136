// The AVX2 build of tile_kernels.inc, plus the attention kernels.
#include <immintrin.h>

#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"

#define CKPT_TILE_FN avx2_tile_for
#define CKPT_TILE_WITH_ATTENTION
#include "runtime/tile_kernels.inc"
