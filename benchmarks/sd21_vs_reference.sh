#!/usr/bin/env bash
# sd21 speed against the reference code, same machine, back to back:
# ours through codiff-server (codiff bench, perceptual, the default reference
# strategy) at 512x512 and 1024x1024, then benchmarks/reference_speed.py at
# the same sizes (untiled 512, latent-tiled 1024). Prints both and the ratio.
# Needs an sd21 model folder (`codiff-model init --preset sd21 --seed 1 --out
# DIR`, or an imported one) and the reference source set up as
# benchmarks/reference_speed.py describes (REF_PYTHONPATH).
# Usage: benchmarks/sd21_vs_reference.sh MODEL_DIR IMAGE_512.jpg IMAGE_1024.jpg
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 image512=$2 image1024=$3
: "${REF_PYTHONPATH:=/tmp/refstack/src:/tmp/refstack/stubs:/tmp/codiff_ref}"
export OMP_NUM_THREADS=2
port=50091 log=$(mktemp)
/usr/bin/time -v build/server/codiff-server --model "$model" --listen 127.0.0.1:$port \
  --metrics_listen 127.0.0.1:0 --http_listen 127.0.0.1:0 2> "$log" &
for _ in $(seq 1 300); do build/client/codiff health --server 127.0.0.1:$port >/dev/null 2>&1 && break; sleep 1; done
echo "== ours 512";  build/client/codiff bench "$image512" --server 127.0.0.1:$port --runs 2 --modes perceptual --deadline 1800
echo "== ours 1024"; build/client/codiff bench "$image1024" --server 127.0.0.1:$port --runs 1 --modes perceptual --deadline 1800
# SIGINT to the server itself (GNU time ignores it while it waits).
pkill -INT -f "codiff-server --model $model --listen 127.0.0.1:$port" || true
wait || true
echo "== ours, per request (server log)"; grep '"method":"Restore"' "$log" | sed 's/^/  /'
grep "Maximum resident" "$log" | sed 's/^\s*/  server /'
echo "== reference 512";  PYTHONPATH=$REF_PYTHONPATH /usr/bin/python3 benchmarks/reference_speed.py --model "$model" --size 512 --runs 2
echo "== reference 1024 (latent tiling)"; PYTHONPATH=$REF_PYTHONPATH /usr/bin/python3 benchmarks/reference_speed.py --model "$model" --size 1024 --runs 1 --tiled
rm -f "$log"
