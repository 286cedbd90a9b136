#!/usr/bin/env bash
# Makes llama.cpp's own library available as a peer: fetches the npm packages into a cache outside the
# source tree (${CKPT_PEER_CACHE:-$HOME/.cache/ckpt-peer}), takes llama.h from the bundled llama.cpp
# source, and builds tests/interop/llama_peer.cpp against libllama. Prints the peer's path.
# Exit 77 (ctest's skip code) with a message when npm or the registry is unavailable.
set -euo pipefail
src_dir=$(cd "$(dirname "$0")" && pwd)
cache=${CKPT_PEER_CACHE:-$HOME/.cache/ckpt-peer}
version=3.21.1
mkdir -p "$cache"
cd "$cache"
exec 9>"$cache/.lock"
flock 9  # ctest may run several interop tests at once
bins=$cache/bins/package/bins/linux-x64
if [ ! -f "$bins/libllama.v0.4.0.so" ] || [ ! -f "$cache/llama.cpp/include/llama.h" ]; then
  if ! command -v npm >/dev/null; then echo "SKIP: npm is not installed; llama.cpp interop not checked" >&2; exit 77; fi
  rm -rf "$cache/bins" "$cache/src" "$cache/llama.cpp" "$cache"/*.tgz
  if ! timeout 300 npm pack --silent "@node-llama-cpp/linux-x64@$version" "node-llama-cpp@$version" >/dev/null 2>"$cache/npm.log"; then
    echo "SKIP: npm registry unreachable ($(tail -1 "$cache/npm.log")); llama.cpp interop not checked" >&2
    exit 77
  fi
  mkdir -p bins src
  tar xzf "node-llama-cpp-linux-x64-$version.tgz" -C bins
  tar xzf "node-llama-cpp-$version.tgz" -C src
  git clone -q src/package/llama/gitRelease.bundle llama.cpp 2>/dev/null
fi
peer=$cache/llama_peer
if [ ! -x "$peer" ] || [ "$src_dir/llama_peer.cpp" -nt "$peer" ]; then
  g++ -std=c++17 -O1 -o "$peer.tmp" "$src_dir/llama_peer.cpp" \
      -I"$cache/llama.cpp/include" -I"$cache/llama.cpp/ggml/include" \
      "$bins/libllama.v0.4.0.so" "$bins/libllama-common.so" "$bins/libggml.v0.4.0.so" "$bins/libggml-base.so" -Wl,-rpath,"$bins"
  mv "$peer.tmp" "$peer"
fi
echo "$peer $bins"
