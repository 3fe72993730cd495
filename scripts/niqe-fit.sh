#!/usr/bin/env bash
# Fits NIQE's pristine model (core/metrics/niqe.h) on the training photos and
# writes training/niqe/pristine.json plus the list of photos it used
# (training/niqe/pristine-photos.tsv: path, sha256, pristine patches kept,
# patches in the photo). Never the validation images.
#   bash scripts/niqe-fit.sh [DATA_DIR] [BUILD_DIR]
# DATA_DIR defaults to ../shared/datasets/train (this workspace's copy).
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/datasets/train}
build=${2:-build}
case "$(realpath "$data")" in
  */val|*/val/*) echo "niqe-fit.sh: $data is a validation folder; fit on training photos" >&2; exit 2 ;;
esac
mkdir -p training/niqe
"$build/training/codiff-train" niqe-fit --data "$data" --out training/niqe/pristine.json \
  --list training/niqe/pristine-photos.tsv --quiet
echo "photos: $(grep -vc '^#' training/niqe/pristine-photos.tsv), list in training/niqe/pristine-photos.tsv"
