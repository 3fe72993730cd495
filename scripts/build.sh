#!/usr/bin/env bash
# Configures and builds the project (Release) into ./build. Extra arguments go
# to CMake's configure step, e.g. -DCODIFF_SANITIZE=ON; `--target T...` (last)
# builds only those targets (scripts/run.sh: what serving needs).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${CODIFF_BUILD_DIR:-build}
configure=()
targets=()
while [ $# -gt 0 ]; do
  if [ "$1" = --target ]; then
    shift
    targets=("$@")
    break
  fi
  configure+=("$1")
  shift
done
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${configure[@]+"${configure[@]}"}
cmake --build "$build_dir" -j"$(nproc)" ${targets[@]+--target "${targets[@]}"}
