#!/usr/bin/env bash
# Memory under hostile load: codiff-server with limits.max_memory_bytes set,
# CONCURRENCY callers sending the same SIZE x SIZE JPEG (quality 30) for
# DURATION seconds through `codiff load`. Prints load's table (status counts:
# admitted requests end OK, the excess RESOURCE_EXHAUSTED at once) and the
# server's peak RSS, to compare with the budget.
# Usage: [DEADLINE=s] benchmarks/memory_budget.sh MODEL_DIR SIZE CONCURRENCY DURATION MAX_MEMORY_BYTES [MODE]
# Needs the build (build/server/codiff-server, build/client/codiff) and
# python3 with numpy and PIL to make the image.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 size=$2 concurrency=$3 duration=$4 budget=$5 mode=${6:-fidelity}
work=$(mktemp -d)
trap 'kill "$server_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/images"
"${PYTHON:-python3}" - "$size" "$work/images/big.jpg" <<'PY'
import sys, numpy as np
from PIL import Image
n = int(sys.argv[1]); rng = np.random.default_rng(1)
y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
img = np.stack([x, y, 1 - x * y], -1) * 200 + rng.normal(0, 12, (n, n, 3))
Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(sys.argv[2], quality=30)
PY
cat >"$work/server.yaml" <<YAML
listen: "127.0.0.1:50661"
metrics_listen: "127.0.0.1:9661"
http_listen: "127.0.0.1:0"
model_dir: "$model"
# A long request (sd21 at 16 MP on a CPU takes over 17 min) must not be cut
# by the connection-age grace.
max_connection_age_seconds: 0
limits:
  max_memory_bytes: $budget
  max_pixels: 40000000
YAML
build/server/codiff-server --config "$work/server.yaml" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 120); do
  build/client/codiff health --server 127.0.0.1:50661 -q 2>/dev/null && break
  sleep 1
done
grep -h memory_budget "$work/server.log" || true
build/client/codiff load "$work/images" --server 127.0.0.1:50661 -c "$concurrency" \
  -d "$duration" --mode "$mode" --deadline "${DEADLINE:-600}" --server-pid "$server_pid" -q
echo "server peak RSS (VmHWM): $(grep VmHWM /proc/$server_pid/status | awk '{printf "%.2f GB", $2*1024/1e9}') against max_memory_bytes $(awk "BEGIN{printf \"%.2f GB\", $budget/1e9}")"
