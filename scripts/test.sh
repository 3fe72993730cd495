#!/usr/bin/env bash
# Installs dependencies, builds, and runs the test suite with CTest.
#   scripts/test.sh [--all] [CMAKE_ARGS...]
# Without --all the CTest label "slow" (minutes and ~8 GB of RAM: the
# full-size sd21 LoRA training step) is left out; --all runs it too. Other
# arguments go to CMake's configure step (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
run_slow=0
build_args=()
for arg in "$@"; do
  if [[ "$arg" == "--all" ]]; then
    run_slow=1
  else
    build_args+=("$arg")
  fi
done
label_filter=(-LE slow)
if ((run_slow)); then label_filter=(); fi
bash scripts/install-deps.sh
bash scripts/build.sh ${build_args[@]+"${build_args[@]}"}
build_dir=${CODIFF_BUILD_DIR:-build}
# LibTorch would otherwise start one thread per core in every test process
# while CTest runs two processes at once.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ctest --test-dir "$build_dir" ${label_filter[@]+"${label_filter[@]}"} --output-on-failure \
  -j"$(nproc)" --timeout 900
# The Python client (client/python): installed offline into a throw-away
# venv that sees Debian's python3-grpcio, its pytest suite against the real
# server.
py_venv=$(mktemp -d)
trap 'rm -rf "$py_venv"' EXIT
/usr/bin/python3 -m venv --system-site-packages "$py_venv"
"$py_venv/bin/pip" install --no-build-isolation --no-index --no-cache-dir -q ./client/python
CODIFF_SERVER_BIN="$build_dir/server/codiff-server" CODIFF_MODEL_BIN="$build_dir/tools/codiff-model" \
  "$py_venv/bin/python" -m pytest -q -p no:cacheprovider client/python/tests
# The models-only configuration (model library, codiff-model, model parity
# tests; no gRPC/OpenCV/Prometheus): what scripts/device-check.sh builds
# against a CUDA LibTorch, checked here against Debian's.
models_dir=${CODIFF_MODELS_BUILD_DIR:-build-models}
cmake -S . -B "$models_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCODIFF_MODELS_ONLY=ON
cmake --build "$models_dir" -j"$(nproc)"
ctest --test-dir "$models_dir" -L models --output-on-failure -j"$(nproc)" --timeout 900
