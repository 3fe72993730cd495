#!/usr/bin/env bash
# Configures and builds the project (Release) into ./build. Extra arguments go
# to CMake's configure step, e.g. -DCODIFF_SANITIZE=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${CODIFF_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir" -j"$(nproc)"
