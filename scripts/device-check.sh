#!/usr/bin/env bash
# The GPU check, run on a lent GPU machine (see docs/performance.md, "GPU").
# Builds the models-only configuration (model library, codiff-model, model
# parity tests; no gRPC / OpenCV / Prometheus) against the LibTorch of the
# machine's Python torch, then on CUDA:
#   1. the model parity tests in float32 (the CPU tolerances) and float16
#      (every tolerance at least 2e-2, see tests/test_support.h Tolerance);
#   2. codiff-model demo: 512x512 and 1024x1024 perceptual restores with
#      random sd21 weights, the reference strategy, per-stage times, fp32 and
#      fp16.
# The small C++ libraries (absl, yaml-cpp, nlohmann-json, OpenSSL, GoogleTest)
# come from apt when it works, or from Debian packages unpacked under
# .devdeps/root (scripts/device-deps.sh makes it) on machines that cannot
# install anything.
# Usage: bash scripts/device-check.sh [cuda:N] [quick]   (exit != 0 on failure)
#   quick: float32 parity tests only (no float16, no demo).
# Logs also go to $OUT when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."
device=${1:-cuda:0}
mode=${2:-full}
dtypes=(float32 float16)
[ "$mode" = quick ] && dtypes=(float32)
build_dir=${CODIFF_DEVICE_BUILD_DIR:-build-device}
log_dir=${OUT:-$build_dir}
mkdir -p "$log_dir"

python=$(command -v python3)
prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')
torch_version=$("$python" -c 'import torch; print(torch.__version__.split("+")[0])')
echo "LibTorch: $("$python" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

extra=()
deps=$PWD/.devdeps/root/usr
if [ -d "$deps" ]; then
  arch=$deps/lib/x86_64-linux-gnu
  export LD_LIBRARY_PATH=$arch${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  extra+=(-Dabsl_DIR="$arch/cmake/absl" -Dyaml-cpp_DIR="$arch/cmake/yaml-cpp"
    -DGTest_DIR="$arch/cmake/GTest" -Dnlohmann_json_DIR="$deps/share/cmake/nlohmann_json"
    -DOPENSSL_ROOT_DIR="$deps" -DOPENSSL_INCLUDE_DIR="$deps/include"
    -DOPENSSL_CRYPTO_LIBRARY="$arch/libcrypto.so" -DOPENSSL_SSL_LIBRARY="$arch/libssl.so")
elif command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
  apt-get install -y -qq --no-install-recommends cmake ninja-build g++ libabsl-dev \
    libyaml-cpp-dev nlohmann-json3-dev libssl-dev libgtest-dev libgmock-dev >/dev/null || true
fi
# LibTorch 2.12 and later require C++20 of their users.
standard=17
if [ "$(printf '%s\n' 2.12 "$torch_version" | sort -V | head -1)" = 2.12 ]; then standard=20; fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCODIFF_MODELS_ONLY=ON \
  -DCMAKE_CXX_STANDARD=$standard -DCMAKE_PREFIX_PATH="$prefix" "${extra[@]}" \
  2>&1 | tee "$log_dir/configure.log" | tail -5
time cmake --build "$build_dir" -j"$(nproc)" 2>&1 | tee "$log_dir/build.log" | grep -v "^\[" || true
[ -x "$build_dir/tools/codiff-model" ] || { echo "build failed"; exit 1; }

# The torch.save readers are CPU parsers; their 20 MB of test data may be left
# behind when the tree is copied to the GPU machine.
exclude=()
[ -f tests/testdata/import/cave_legacy.pth ] || exclude=(-E 'TorchFile|Import')

status=0
for dtype in "${dtypes[@]}"; do
  echo "== parity tests on $device, $dtype"
  CODIFF_TEST_DEVICE=$device CODIFF_TEST_DTYPE=$dtype \
    ctest --test-dir "$build_dir" -L models "${exclude[@]}" -V -j4 \
    >"$log_dir/parity-$dtype.log" 2>&1 || status=1
  grep -E "tests passed|tests failed|\(Failed\)|Failure|\(Subprocess" "$log_dir/parity-$dtype.log" || true
  # The measured margins, one line per comparison.
  grep -o "\[ parity.*" "$log_dir/parity-$dtype.log" >"$log_dir/margins-$dtype.log" || true
done

[ "$mode" = quick ] && exit $status
model=$(mktemp -d)/sd21
"$build_dir/tools/codiff-model" init --preset sd21 --seed 1 --out "$model"
for dtype in float32 float16; do
  for size in 512 1024; do
    echo "== ${size}x${size} on $device, $dtype"
    "$build_dir/tools/codiff-model" demo --model "$model" --size "$size" --runs 3 \
      --device "$device" --dtype "$dtype" 2>&1 | tee -a "$log_dir/demo.log" || status=1
  done
done
rm -rf "$(dirname "$model")"
exit $status
