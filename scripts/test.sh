#!/usr/bin/env bash
# Set up, build and run every test: the GoogleTest suite and CLI checks (ctest in build/), then the
# libFuzzer smoke runs (a separate clang build with ASan+UBSan in build-fuzz/).
# CKPT_FUZZ_SECONDS sets the seconds per fuzz target (default 20; 0 skips the fuzz build).
set -euo pipefail
cd "$(dirname "$0")/.."
CKPT_SETUP_CUDA=1 bash scripts/setup.sh  # with Debian's CUDA toolkit, so the CUDA kernels compile (no GPU needed)
bash scripts/build.sh
status=0
ctest --test-dir build --output-on-failure --parallel "$(nproc)" || status=1

fuzz_seconds=${CKPT_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
  cmake -S . -B build-fuzz -G Ninja -DCKPT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_CXX_COMPILER=clang++ -DCKPT_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
  cmake --build build-fuzz --parallel "$(nproc)"
  ctest --test-dir build-fuzz --output-on-failure || status=1
fi
exit $status
