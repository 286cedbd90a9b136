#!/usr/bin/env bash
# Each library is used through its public headers only (C++ and CUDA sources alike), and data flows one way:
#   formats <- quantize <- convert;  formats, quantize <- runtime;  formats, quantize <- inspect.
# A library file (not its cli/) may include its own headers, formats/, and the public headers of the
# libraries below it; the CLI files (*/cli/*) may include every library's public headers. Tests,
# benchmarks and samples are exempt (they test internals on purpose).
set -u
cd "$(dirname "$0")/.."
public_quantize="quantize/quantize.h quantize/bnb_layout.h quantize/bnb4.h quantize/ggml_blocks.h quantize/row_stream.h quantize/quantize_gguf.h quantize/quantize_bnb.h quantize/quant_policy.h quantize/block_decode.h"
public_convert="convert/convert.h convert/merge.h convert/ckpt_archive_convert.h"
public_runtime="runtime/runtime.h runtime/lora.h runtime/jinja.h runtime/trainer/trainer.h runtime/cuda/cuda_matvec.h"
public_inspect="inspect/inspect.h inspect/diff.h inspect/cli/commands.h"
allowed_for() {  # library -> the headers of other libraries it may include
  case $1 in
    formats) echo "" ;;
    quantize) echo "" ;;
    convert) echo "$public_quantize" ;;
    runtime) echo "$public_quantize" ;;
    inspect) echo "$public_quantize" ;;  # diff decodes tensors
    cli) echo "$public_quantize $public_convert $public_runtime $public_inspect" ;;
  esac
}
status=0
for lib in formats quantize convert runtime inspect; do
  while IFS= read -r file; do
    scope=$lib
    case $file in */cli/*) scope=cli ;; esac
    allowed=" $(allowed_for "$scope") "
    while IFS= read -r header; do
      owner=${header%%/*}
      [ "$owner" = formats ] && continue
      [ "$owner" = "$lib" ] && [ "$scope" != cli ] && continue
      [ "$scope" = cli ] && [ "$owner" = "$lib" ] && continue
      case $allowed in *" $header "*) continue ;; esac
      echo "layering: $file includes $header, which is not a public header it may use"
      status=1
    done < <(sed -n 's/^#include "\(\(formats\|quantize\|convert\|runtime\|inspect\)\/[^"]*\)".*/\1/p' "$file")
  done < <(find "$lib" -name '*.cpp' -o -name '*.h' -o -name '*.inc' -o -name '*.cu')
done
# libtorch (slow to compile, heavy to link) only in the trainer's own files.
while IFS= read -r file; do
  echo "layering: $file includes libtorch; only runtime/trainer/ may"
  status=1
done < <(grep -rlE '#include <(torch|ATen|c10)/' formats convert quantize inspect runtime | grep -v '^runtime/trainer/')
[ $status = 0 ] && echo "layering: every library is used through its public headers; libtorch stays in runtime/trainer"
exit $status
