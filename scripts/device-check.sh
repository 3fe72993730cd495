#!/usr/bin/env bash
# The GPU check, for the day a GPU machine is lent (untested here: none was).
# Builds the models-only configuration (model library, codiff-model, model
# parity tests; no gRPC / OpenCV / Prometheus) against the LibTorch of the
# machine's Python torch, then on CUDA:
#   1. the model parity tests in float32 (the CPU tolerances) and float16
#      (every tolerance at least 2e-2, see tests/test_support.h Tolerance);
#   2. codiff-model demo: a 1024x1024 perceptual restore with random sd21
#      weights, the reference strategy, per-stage times, fp32 and fp16.
# Usage: bash scripts/device-check.sh [cuda:N]   (prints everything; exit != 0 on failure)
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cuda:0}
build_dir=${CODIFF_DEVICE_BUILD_DIR:-build-device}

python=$(command -v python3)
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "LibTorch: $("$python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())')"
# Debian/Ubuntu: the small libraries the model library needs.
if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  apt-get install -y -qq --no-install-recommends cmake ninja-build g++ libabsl-dev \
    libyaml-cpp-dev nlohmann-json3-dev libssl-dev libgtest-dev >/dev/null || true
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCODIFF_MODELS_ONLY=ON \
  -DCMAKE_PREFIX_PATH="$prefix"
cmake --build "$build_dir" -j"$(nproc)"

status=0
for dtype in float32 float16; do
  echo "== parity tests on $device, $dtype"
  CODIFF_TEST_DEVICE=$device CODIFF_TEST_DTYPE=$dtype \
    ctest --test-dir "$build_dir" -L models --output-on-failure || status=1
done

model=$(mktemp -d)/sd21
"$build_dir/tools/codiff-model" init --preset sd21 --seed 1 --out "$model"
for dtype in float32 float16; do
  echo "== 1024x1024 on $device, $dtype"
  "$build_dir/tools/codiff-model" demo --model "$model" --size 1024 --runs 3 \
    --device "$device" --dtype "$dtype" || status=1
done
rm -rf "$(dirname "$model")"
exit $status
