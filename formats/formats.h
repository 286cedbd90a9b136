// Public header of ckpt::formats: readers and writers for safetensors (single and sharded) and GGUF,
// the dtype registry, exact float conversions, and the one error type.
#pragma once

#include "formats/byte_sink.h"
#include "formats/detect.h"
#include "formats/dtype.h"
#include "formats/error.h"
#include "formats/float_convert.h"
#include "formats/gguf.h"
#include "formats/mapped_file.h"
#include "formats/safetensors.h"
#include "formats/safetensors_index.h"
#include "formats/tensor.h"
