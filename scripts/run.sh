#!/usr/bin/env bash
# Installs dependencies, builds, and starts codiff-server (gRPC on 0.0.0.0:50051,
# Prometheus metrics on 0.0.0.0:9090) on the bundled model models/default.
# Extra arguments go to codiff-server (e.g. --listen 127.0.0.1:50051).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# Only what serving needs (the server, the client and codiff-model); the test
# suites and benchmarks are built by scripts/test.sh into the same tree.
bash scripts/build.sh --target codiff-server codiff codiff-model
build_dir=${CODIFF_BUILD_DIR:-build}
model=models/default
if [ ! -f "$model/model.yaml" ]; then
  # A checkout without the bundled model (e.g. a sparse clone). Serve a
  # seeded random `small` model so the service can be tried end to end; its
  # output is NOT a restoration, and the server reports trained=false.
  model="$build_dir/models/untrained-small"
  echo "run.sh: WARNING: models/default is missing; serving an UNTRAINED random model ($model)" >&2
  [ -f "$model/model.yaml" ] || "$build_dir"/tools/codiff-model init --preset small --seed 1 --out "$model"
fi
exec "$build_dir"/server/codiff-server --model "$model" "$@"
