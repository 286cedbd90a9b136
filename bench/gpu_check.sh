#!/usr/bin/env bash
# Issue 15's GPU checks as one prepared run, for a machine with an NVIDIA GPU (the device machines:
# H200, nvcc, PyTorch): builds with CUDA (and against PyTorch's libtorch, so the trainer runs on the
# GPU, when python3 has torch), then
#   1. the CUDA tests: kernels vs the host dequantizers, the CUDA backend vs the float64 reference and
#      the CPU for every type (decode and prompt-batch paths), NF4/FP4, run-time LoRA, llama.cpp's
#      greedy ids for stories260K, and a QLoRA step on the GPU vs the CPU step;
#   2. CPU vs CUDA logits (`ckpt run --check-device cuda`) on the sample and on a ~1B-parameter random
#      model in f16, Q8_0, Q4_0 and Q4_K_M: agreement and greedy ids;
#   3. decode tokens/s on the CUDA backend as a fraction of the device's copy bandwidth, and against
#      llama.cpp's CUDA build when CKPT_BENCH_PEER names one (bench/bench_generate.cpp);
#   4. QLoRA training throughput on the GPU (bench/bench_finetune.cpp), when libtorch has CUDA.
# Everything goes to $OUT (the device tool's output folder) or ./gpu-check/; a summary is printed.
# bash bench/gpu_check.sh [BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check}
build=${1:-build-gpu}
mkdir -p "$out"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
echo "== configure (libtorch: ${prefix:-the system one, if any})"
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release ${prefix:+-DCMAKE_PREFIX_PATH="$prefix"} > "$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
grep -E "ckpt: (CUDA|no working|trainer)" "$out/configure.log"
echo "== build"
cmake --build "$build" --parallel "$(nproc)" --target ckpt runtime_test bench_generate > "$out/build.log" 2>&1 ||
  { grep -E "error" "$out/build.log" | head -30; exit 1; }
cmake --build "$build" --parallel "$(nproc)" --target trainer_test bench_finetune >> "$out/build.log" 2>&1 || echo "(trainer_test not built: no libtorch)"
ckpt="$build/inspect/ckpt"
"$ckpt" --version | tee "$out/version.txt"

echo "== 1. CUDA tests"
"$build/tests/runtime_test" --gtest_filter='Cuda*:*CudaRandomModel*:DeviceSelection*' > "$out/cuda_tests.txt" 2>&1
echo "runtime_test CUDA: exit $? ($(grep -cE '^\[       OK \]' "$out/cuda_tests.txt") ok, $(grep -cE '^\[  FAILED  \]' "$out/cuda_tests.txt") failed lines, $(grep -cE '^\[  SKIPPED \]' "$out/cuda_tests.txt") skipped)"
grep -E "FAILED|SKIPPED|Skipped|Failure" "$out/cuda_tests.txt" | head -20
if [ -x "$build/tests/trainer/trainer_test" ]; then
  "$build/tests/trainer/trainer_test" --gtest_filter='*QloraStepOnCuda*' > "$out/qlora_cuda.txt" 2>&1
  echo "trainer_test QloraStepOnCuda: exit $?"; grep -E "OK|FAILED|SKIPPED|Skipped" "$out/qlora_cuda.txt" | head
fi

echo "== 2. CPU vs CUDA logits"
prompt="Once upon a time there was a little robot who"
"$ckpt" run samples/tiny-llama --device cpu --check-device cuda -p "$prompt" -n 32 --json | tee "$out/check-sample.json"
export CKPT_BENCH_DIR="$out/models" CKPT_BENCH_MODEL=1b CKPT_BENCH_DEVICE=cuda
mkdir -p "$CKPT_BENCH_DIR"
echo "== 3. decode bench (writes the ~1B models first)"
"$build/bench/bench_generate" 1 128 128 5 | tee "$out/bench_generate_cuda.txt"
for f in "$CKPT_BENCH_DIR"/ckpt-bench-1b-*.gguf; do
  [ -f "$f" ] || continue
  t=$(basename "$f" .gguf)
  "$ckpt" run "$f" --device cpu --check-device cuda -p "$prompt" -n 16 --json > "$out/check-$t.json" 2>&1
  echo "$t: $(cat "$out/check-$t.json")"
  for d in cpu cuda; do
    "$ckpt" run "$f" --device $d -p "$prompt" -n 32 --greedy --json > "$out/greedy-$t-$d.json" 2>/dev/null
  done
  python3 - "$out/greedy-$t-cpu.json" "$out/greedy-$t-cuda.json" <<'PY' || true
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print(f"  greedy ids equal: {a['ids'] == b['ids']}; cuda {b['timings']['generate_tokens_per_second']:.1f} tok/s, cpu {a['timings']['generate_tokens_per_second']:.1f} tok/s")
PY
done
if [ -x "$build/bench/bench_finetune" ]; then
  echo "== 4. QLoRA training step on the GPU (bench_finetune)"
  CKPT_BENCH_MODEL= CKPT_BENCH_RUNS=3 "$build/bench/bench_finetune" | tee "$out/bench_finetune_cuda.txt"
fi
rm -rf "$CKPT_BENCH_DIR"
echo "== done: $out"
