#!/usr/bin/env bash
# Installs dependencies, builds, and starts the main job.
# The gRPC server does not exist yet (issue 4); until it does, the main job is
# a demo of the model path: the one-step generator of the `small` preset with
# seeded random weights, timed on a random image.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
build_dir=${CODIFF_BUILD_DIR:-build}
"$build_dir"/tools/codiff-model summary --preset small
"$build_dir"/tools/codiff-model demo --preset small --seed 1 --size "${CODIFF_DEMO_SIZE:-512}" --runs 3
