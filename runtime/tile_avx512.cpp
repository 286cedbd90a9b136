// The AVX-512 (F/BW/VL/VNNI) build of tile_kernels.inc.
#include <immintrin.h>

#include "quantize/ggml_blocks.h"
#include "quantize/quantize.h"
#include "runtime/dot.h"

#define CKPT_TILE_FN avx512_tile_for
#include "runtime/tile_kernels.inc"
