#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` (and `llama-bench`) from the llama-cpp-python sdist on PyPI (it
# vendors llama.cpp, server included), the peer of bench/serve_load.py. Default
# configuration (GGML_NATIVE: tuned for this CPU, as a user's build would be).
# usage: bench/build_llama_server.sh [OUT_DIR]   (default target/llama-server)
# Prints the path of the binary on its last line.
# LLAMA_NO_AMX=1 builds into build-noamx with the AVX-512/VNNI set named instead of
# GGML_NATIVE and AMX off: some VMs list AMX in /proc/cpuinfo (and grant the tile
# permission) yet trap `tilezero`, which kills llama.cpp's AMX prefill with SIGILL
# (seen on a 2-core Sapphire Rapids VM, 2026-12-02).
# LLAMA_AVX2=1 builds into build-avx2 with AVX2/FMA/F16C only (no AVX-512, no VNNI): the
# instruction set of the AVX2-only AMD machines, to set against lineage's AVX2 kernels
# (LINEAGE_NO_AVX512=1) on a CPU that has more.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/target/llama-server}"
VERSION=0.3.36
SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
mkdir -p "$OUT"
cd "$OUT"
BUILD=build
CMAKE_FLAGS=()
if [ "${LLAMA_NO_AMX:-0}" = 1 ]; then
  BUILD=build-noamx
  CMAKE_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
    -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON
    -DGGML_AVX_VNNI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF)
elif [ "${LLAMA_AVX2:-0}" = 1 ]; then
  BUILD=build-avx2
  CMAKE_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
    -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF)
fi
if [ ! -x "$BUILD/bin/llama-server" ]; then
  if [ ! -f sdist.tar.gz ]; then
    # The simple index is what a registry mirror serves; take the sdist link from it.
    url=$(curl -fsSL "https://pypi.org/simple/llama-cpp-python/" \
      | grep -o "https://[^\"#]*llama_cpp_python-$VERSION.tar.gz" | head -1)
    curl -fsSL -o sdist.tar.gz "$url"
  fi
  echo "$SHA  sdist.tar.gz" | sha256sum -c - >&2
  tar xzf sdist.tar.gz
  command -v cmake >/dev/null || pip install cmake >&2
  src="llama_cpp_python-$VERSION/vendor/llama.cpp"
  cmake -S "$src" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "${CMAKE_FLAGS[@]}" >&2
  cmake --build "$BUILD" --target llama-server llama-bench -j "$(nproc)" >&2
fi
echo "$OUT/$BUILD/bin/llama-server"
