#!/usr/bin/env bash
# Chart test without helm: renders helm/codiff for the default, GPU and
# model-volume values, validates every object against its Kubernetes schema
# (plus strict unknown fields), yamllints values and output, asserts the
# probes, drain timing, security, PDB, HPA and ServiceMonitor, and checks
# that bad values fail to render.
#
#   bash tests/deploy/chart_test.sh [OUTDIR]
#
# Needs the deploy tools (sudo bash scripts/install-deps.sh --deploy-tools);
# exits 77 (skip) with a message when they are missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$(mktemp -d)}
mkdir -p "$out"
start=$(date +%s)

missing=()
for tool in go yamllint node npm; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ! -d /usr/share/gocode/src/github.com/Masterminds/sprig ]; then
  missing+=(golang-github-masterminds-sprig-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "SKIP chart_test: missing ${missing[*]}; run: sudo bash scripts/install-deps.sh --deploy-tools"
  exit 77
fi

check=$root/tools/chart-check/check-chart.sh
chart=$root/helm/codiff
lint_conf=$root/tools/chart-check/yamllint.yaml

echo "== yamllint: chart values and deploy/ assets"
yamllint -s -c "$lint_conf" "$chart/Chart.yaml" "$chart/values.yaml" "$chart/values-gpu.yaml" \
  "$root"/deploy/*.yaml "$root"/deploy/*.yml "$root"/deploy/grafana/provisioning/*/*.yaml

echo "== render + validate: default values"
bash "$check" "$out" default
echo "== render + validate: GPU values"
bash "$check" "$out" gpu -f "$chart/values-gpu.yaml"
echo "== render + validate: model from a volume"
cat >"$out/values-volume.yaml" <<'EOF'
model:
  source: volume
  subPath: default
  volume:
    persistentVolumeClaim:
      claimName: codiff-models
      readOnly: true
EOF
bash "$check" "$out" volume -f "$out/values-volume.yaml"

echo "== assertions on the rendered objects"
failed=0
for variant in default gpu volume; do
  node "$root/tests/deploy/assert_chart.js" "$variant" "$out/$variant.json" \
    "$root/server/server_config.cc" || failed=1
done
for variant in default gpu; do
  if ! grep -q "codiff health" "$out/$variant-NOTES.txt"; then
    echo "FAIL $variant: NOTES.txt does not show the health check"
    failed=1
  fi
done

echo "== bad values must fail to render"
renderer=${CODIFF_TOOLS_CACHE:-$root/.cache/chart-check}/chart-render
expect_fail() {
  local what=$1 pattern=$2
  shift 2
  local msg
  if msg=$("$renderer" --chart "$chart" --out /dev/null "$@" 2>&1); then
    echo "FAIL bad values rendered: $what"
    failed=1
  elif ! grep -q "$pattern" <<<"$msg"; then
    echo "FAIL $what: unexpected error: $msg"
    failed=1
  else
    echo "ok   refused: $what"
  fi
}
expect_fail "terminationGracePeriodSeconds below drain grace + preStop" \
  "must exceed" --set terminationGracePeriodSeconds=20
expect_fail "model.source volume without a volume" \
  "model.volume is required" --set model.source=volume
expect_fail "unknown model.source" "model.source must be" --set model.source=s3
expect_fail "autoscaling with no metric" "autoscaling needs" \
  --set autoscaling.queueDepth.enabled=false --set autoscaling.cpu.enabled=false

echo "== deploy/: metric names, alert rules, scrape config"
# Every codiff_ metric the dashboard, alerts and adapter rules use must be
# one the server exports (server/server_metrics.cc), with the histogram and
# counter suffixes Prometheus adds.
metrics_src=$root/server/server_metrics.cc
if [ -f "$metrics_src" ]; then
  exported=$(grep -o '"codiff_[a-z_]*"' "$metrics_src" | tr -d '"' | sort -u)
  used=$(grep -oh 'codiff_[a-z_]*' "$root/deploy/grafana/dashboard.json" "$root/deploy/alerts.yml" \
    "$root/deploy/prometheus-adapter-rules.yaml" "$chart/values.yaml" | sort -u)
  for m in $used; do
    base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$m")
    if ! grep -qx -e "$m" -e "$base" <<<"$exported"; then
      case $m in codiff_queue_duration_seconds_mean) continue ;; esac  # adapter-made name
      echo "FAIL metric $m is used in deploy/ or the chart but not exported by the server"
      failed=1
    fi
  done
  echo "ok   $(wc -w <<<"$used") metric names checked against server_metrics.cc"
else
  echo "note: $metrics_src not found; metric names not cross-checked"
fi
if command -v promtool >/dev/null; then
  promtool check rules "$root/deploy/alerts.yml" || failed=1
  promtool test rules "$root/deploy/alerts_test.yml" || failed=1
  promtool check config --syntax-only "$root/deploy/prometheus.yml" || failed=1
else
  echo "note: promtool not installed; alert rules not checked here"
fi

echo "chart_test: $(($(date +%s) - start)) s, output in $out"
if [ $failed -ne 0 ]; then
  echo "chart_test: FAILED"
  exit 1
fi
echo "chart_test: PASSED"
