#!/usr/bin/env bash
# Train -> export -> serve, with the real binaries: a few steps of both
# stages of a two-stage recipe (tiny preset), `codiff-train export`, then
# codiff-server on the exported folder (loopback) and `codiff restore` +
# `codiff info` against it. Fails on any error, a missing or wrongly sized
# output, or a server that does not report the model as trained.
#   train_export_serve_test.sh BUILD_DIR TESTDATA_DIR
set -euo pipefail
build=$1
testdata=$2
train=$build/training/codiff-train
server=$build/server/codiff-server
client=$build/client/codiff
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/data"
cp "$testdata/image/photo_a.png" "$testdata/image/photo_b.png" "$work/data/"
cat > "$work/recipe.yaml" <<EOF
preset: tiny
seed: 3
threads: 1
checkpoint_every: 5
log_every: 0
lr_schedule: cosine
data:
  train_dirs: [$work/data]
  crop: 64
  workers: 1
  cache_sources: true
stages:
  stage1:
    batch: 2
    steps: 6
    output: $work/runs/stage1
    stage1: {objective: dual, lr: 2.0e-3, qf_weight: 0.01}
  stage2:
    batch: 2
    steps: 6
    output: $work/runs/stage2
    stage2: {cave: $work/runs/stage1, lr: 5.0e-4, disc_lr: 5.0e-4, vae_pretrain_steps: 2}
EOF

"$train" stage1 --recipe "$work/recipe.yaml" --quiet
"$train" stage2 --recipe "$work/recipe.yaml" --quiet
"$train" export --run "$work/runs/stage2" --output "$work/model"
test -f "$work/model/model.yaml"

# A port pair nothing else is using: let the kernel pick, then reuse it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
OMP_NUM_THREADS=1 "$server" --model "$work/model" --listen "127.0.0.1:$port" \
  --metrics_listen "127.0.0.1:$metrics_port" --http_listen 127.0.0.1:0 > "$work/server.log" 2>&1 &
server_pid=$!
ready=
for _ in $(seq 1 120); do
  if "$client" health --server "127.0.0.1:$port" > /dev/null 2>&1; then ready=1; break; fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "FAIL: codiff-server did not become ready on the exported model" >&2
  cat "$work/server.log" >&2
  exit 1
fi

"$client" info --server "127.0.0.1:$port" --json > "$work/info.json"
python3 - "$work/info.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["model"]
assert m["trained"] is True, f"server reports trained={m['trained']}"
assert m["preset"] == "tiny", m["preset"]
print("info: preset", m["preset"], "trained", m["trained"], "-", m["provenance"])
EOF

mkdir -p "$work/out"
"$client" restore --server "127.0.0.1:$port" -o "$work/out" "$testdata/image/orient_1.jpg"
python3 - "$work/out/orient_1.png" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "output is not a PNG"
width, height = struct.unpack(">II", data[16:24])
assert (width, height) == (48, 32), (width, height)
print("restored:", sys.argv[1], width, "x", height)
EOF
echo "PASS: trained, exported, served and restored"
