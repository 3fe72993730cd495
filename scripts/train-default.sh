#!/usr/bin/env bash
# Trains the bundled default model end to end with training/recipes/default.yaml:
# stage 1 (CaVE, dual learning), stage 2 (one-step generator), export to a
# model folder, and the validation table. Resumable: run it again after an
# interruption and each stage continues from its last checkpoint (finished
# stages are skipped). Last full run on 2 CPU cores (shared with low-priority
# builds and tests for most of it): stage 1 100 min (8000 steps, ~0.75 s
# each; ~0.63 s with the CPUs to itself), stage 2 27 min (1000 steps),
# export + table ~9 min.
#
#   bash scripts/train-default.sh [--data DIR] [--val DIR] [--runs DIR] [--output MODEL_DIR]
#                                 [--resume-from MODEL_DIR] [--steps N]
#                                 [--recipe FILE] [--head-recipe FILE]
#
# --resume-from continues a trained model instead of starting from random
# weights: training/recipes/default_continue.yaml, stage 1 initialised from
# that folder's CaVE, then CaVE's QF head re-fitted alone
# (training/recipes/default_qf_head.yaml, a few minutes), then exported with
# that folder's generator (inert on the small preset, so stage 2 is not
# rerun). Run it again on its output to extend training session after
# session; the model card keeps the history (each run's steps and time). Keep
# --output away from the folder you resume from until the new model has been
# evaluated.
#
# --recipe and --head-recipe replace the continuation's two recipes (e.g.
# training/recipes/default_widen.yaml and default_widen_qf_head.yaml, which
# grow CaVE's widths; both must name the same architecture).
#
# --steps N replaces stage 1's step count (its learning-rate schedule spans
# N): a shorter continuation when a session has less time. Resuming with a
# different N bends the schedule at the step it resumes from.
#
# Defaults: --data ../shared/datasets/train (Urban100 colour + CBSD68, lossless
# PNG), --val ../shared/datasets/val (Kodak crops + McMaster; validation only,
# never trained on), --runs runs/default, --output models/default.
# The exact training files (name, size, SHA-256) are written to
# RUNS/training-data.tsv so a model card can say what was used.
set -euo pipefail
cd "$(dirname "$0")/.."

data=../shared/datasets/train
data_given=0
resume_from=
val=../shared/datasets/val
runs=runs/default
output=models/default
steps_override=
recipe_override=
head_recipe=training/recipes/default_qf_head.yaml
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; data_given=1; shift 2 ;;
    --resume-from) resume_from=$2; shift 2 ;;
    --val) val=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --steps) steps_override=$2; shift 2 ;;
    --recipe) recipe_override=$2; shift 2 ;;
    --head-recipe) head_recipe=$2; shift 2 ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "train-default.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

build_dir=${CODIFF_BUILD_DIR:-build}
train="$build_dir/training/codiff-train"
recipe=training/recipes/default.yaml
stage1_extra=()
data_dirs=("$data")
if [ -n "$resume_from" ]; then
  [ -f "$resume_from/cave.safetensors" ] ||
    { echo "train-default.sh: $resume_from is not a model folder (no cave.safetensors)" >&2; exit 1; }
  recipe=training/recipes/default_continue.yaml
  stage1_extra=(--init-from "$resume_from")
fi
if [ -n "$recipe_override" ]; then recipe=$recipe_override; fi
[ -x "$train" ] || bash scripts/build.sh
[ -d "$data" ] || { echo "train-default.sh: no training data at $data" >&2; exit 1; }
mkdir -p "$runs"
# --data replaces the recipe's folders; without it the recipe's own are used.
data_args=()
if [ "$data_given" -eq 1 ]; then data_args=(--data "$data"); data_dirs=("$data"); fi

echo "== training data: ${data_dirs[*]}"
: > "$runs/training-data.tsv"
for d in "${data_dirs[@]}"; do
  (cd "$d" && find -L . -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) -print0 |
    sort -z | xargs -0 sha256sum) |
    awk -v dir="$(basename "$d")" '{sub(/^\.\//, "", $2); print dir "/" $2 "\t" $1}' >> "$runs/training-data.tsv"
done
echo "   $(wc -l < "$runs/training-data.tsv") files, list in $runs/training-data.tsv"

# A stage is resumed when its run directory holds a checkpoint that has not
# reached the recipe's step count, skipped when it has.
checkpoint_step() {
  local state="$1/checkpoint/state.json"
  [ -f "$state" ] || { echo -1; return; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$state"
}

run_stage() {
  local stage=$1 dir=$2 steps=$3
  shift 3
  local done_steps
  done_steps=$(checkpoint_step "$dir")
  if [ "$done_steps" -ge "$steps" ]; then
    echo "== $stage: finished earlier ($done_steps/$steps steps), skipped"
    return
  fi
  local resume=()
  if [ "$done_steps" -ge 0 ]; then resume=(--resume); fi
  echo "== $stage ($dir): steps $(( done_steps < 0 ? 0 : done_steps ))..$steps ${resume[*]}"
  local start=$SECONDS
  "$train" "$stage" --recipe "${stage_recipe:-$recipe}" --output "$dir" "${data_args[@]}" --val "$val" \
    "${resume[@]}" "$@"
  echo "== $stage: $(( (SECONDS - start) / 60 )) min"
}

stage_steps() {  # $1: stage, $2: recipe (default: $recipe)
  python3 - "${2:-$recipe}" "$1" <<'EOF'
import sys, yaml
r = yaml.safe_load(open(sys.argv[1]))
s = dict(r); s.update(r.get("stages", {}).get(sys.argv[2], {}))
print(s["steps"])
EOF
}

stage1_steps=$(stage_steps stage1)
if [ -n "$steps_override" ]; then
  stage1_steps=$steps_override
  stage1_extra+=(--steps "$steps_override")
fi
run_stage stage1 "$runs/stage1" "$stage1_steps" "${stage1_extra[@]}"
if [ -n "$resume_from" ]; then
  # The continued CaVE ships with the folder's generator (projection, UNet,
  # VAE): on the small preset it is measured inert, so it is not retrained.
  # The data list keeps every earlier run's files.
  [ -f "$resume_from/training-data.tsv" ] && cat "$resume_from/training-data.tsv" >> "$runs/training-data.tsv"
  sort -u -o "$runs/training-data.tsv" "$runs/training-data.tsv"
  # The continuation weighs the QF loss 0.001 against the restoration, so
  # its head drifts; re-fit the head alone (the restoration stays as is).
  stage_recipe=$head_recipe run_stage stage1 "$runs/qf_head" "$(stage_steps stage1 "$head_recipe")" \
    --init-from "$runs/stage1"
  echo "== export to $output (generator from $resume_from)"
  "$train" export --run "$runs/qf_head" --output "$output" --generator-from "$resume_from"
else
  run_stage stage2 "$runs/stage2" "$(stage_steps stage2)" --cave "$runs/stage1"
  echo "== export to $output"
  "$train" export --run "$runs/stage2" --output "$output"
fi
cp "$runs/training-data.tsv" "$output/training-data.tsv"

echo "== validation table ($val)"
spp=()
if command -v ffmpeg > /dev/null; then
  spp=(--spp-qp 1,2,3,4,5,6,8,10,12,15,20,25,30,40)   # ffmpeg's spp deblocking at its best qp
else
  echo "   (ffmpeg not installed: no spp row; apt-get install ffmpeg)"
fi
"$train" eval --model "$output" --data "$val" --qf 5,10,20,30,40,50 --double-jpeg 30:10,10:30 --quiet \
  "${spp[@]}" --json "$runs/eval.json" | tee "$runs/eval.txt"
echo "== done: model in $output, table in $runs/eval.txt"
