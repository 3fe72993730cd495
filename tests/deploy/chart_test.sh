#!/usr/bin/env bash
# Chart test without helm: renders helm/codiff for the default, GPU,
# model-volume and TLS (+ PrometheusRule, ServiceMonitor, queue-depth
# autoscaling opt-in) values, validates the values against
# values.schema.json and every object against its Kubernetes schema (plus
# strict unknown fields), yamllints values and output, asserts the probes,
# TLS mount, threads, drain timing, security, rollout, PDB, HPA and
# ServiceMonitor, checks that the PrometheusRule equals deploy/alerts.yml as
# rules, runs the alert rule tests (promtool) on both, checks the Dockerfile
# (tests/deploy/dockerfile_test.py) and that bad values fail to render.
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
for tool in go yamllint node npm promtool python3; do
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
  "$chart"/files/*.y*ml "$root"/deploy/*.yaml "$root"/deploy/*.yml "$root"/deploy/grafana/provisioning/*/*.yaml
failed=0
for f in alerts.yml prometheus-adapter-rules.yaml; do
  # One source: deploy/ links to the chart's copy (helm reads only files
  # inside the chart).
  if [ "$(readlink -f "$root/deploy/$f")" != "$(readlink -f "$chart/files/$f")" ]; then
    echo "FAIL deploy/$f is not a link to helm/codiff/files/$f"
    failed=1
  fi
done

echo "== render + validate: default values"
bash "$check" "$out" default --values-json "$out/default-values.json"
echo "== render + validate: GPU values"
bash "$check" "$out" gpu -f "$chart/values-gpu.yaml" --values-json "$out/gpu-values.json"
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
bash "$check" "$out" volume -f "$out/values-volume.yaml" --values-json "$out/volume-values.json"
echo "== render + validate: TLS (mTLS), PrometheusRule, ServiceMonitor, queue-depth opt-in; release prod"
cat >"$out/values-tls.yaml" <<'EOF'
tls:
  enabled: true
  secretName: codiff-tls
  clientAuth: true
prometheusRule:
  enabled: true
serviceMonitor:
  enabled: true
autoscaling:
  queueDepth:
    enabled: true
EOF
bash "$check" "$out" tls --release prod -f "$out/values-tls.yaml" --values-json "$out/tls-values.json"

echo "== values.schema.json"
modules=${CODIFF_TOOLS_CACHE:-$root/.cache/chart-check}/node/node_modules
schema_check() {
  NODE_PATH="$modules" node "$root/tests/deploy/values_schema.js" "$chart/values.schema.json" "$1"
}
for variant in default gpu volume tls; do
  schema_check "$out/$variant-values.json" || failed=1
done

echo "== assertions on the rendered objects"
for variant in default gpu volume tls; do

  node "$root/tests/deploy/assert_chart.js" "$variant" "$out/$variant.json" \
    "$root/server/server_config.cc" || failed=1
done
for variant in default gpu tls; do
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
expect_fail "gpu.count 1 without a cuda: device" "gpu.count (1) must equal" --set gpu.count=1
expect_fail "cuda:0 with gpu.count 0" "gpu.count is 0" -f "$chart/values-gpu.yaml" --set gpu.count=0
expect_fail "gpu.count 2 with one cuda: device" "gpu.count (2) must equal" -f "$chart/values-gpu.yaml" \
  --set gpu.count=2
cat >"$out/values-cuda1.yaml" <<'EOF'
config:
  devices: [cuda:1]
gpu:
  count: 1
EOF
expect_fail "cuda:1 with one GPU per pod" "sees GPUs cuda:0..cuda:0" -f "$out/values-cuda1.yaml"
expect_fail "TLS without a Secret" "tls.secretName is required" --set tls.enabled=true
expect_fail "TLS Secret inside the ConfigMap mount" "must not be inside" --set tls.enabled=true \
  --set tls.secretName=s --set tls.mountPath=/etc/codiff/tls
expect_fail "TLS through config.tls" "not config.tls" --set config.tls.cert_file=/x
expect_fail "rollout with maxSurge 0 and maxUnavailable 0" "cannot both be 0" \
  --set rollingUpdate.maxSurge=0 --set rollingUpdate.maxUnavailable=0
expect_fail "PDB minAvailable = minReplicas (blocks drains)" "allows no voluntary eviction" \
  --set podDisruptionBudget.minAvailable=2
expect_fail "PDB maxUnavailable 0" "allows no voluntary eviction" \
  --set podDisruptionBudget.maxUnavailable=0
expect_fail "queue metric the adapter rules do not expose" "is not a metric" \
  --set autoscaling.queueDepth.enabled=true --set autoscaling.queueDepth.metricName=other
# values.schema.json refuses what helm would refuse before rendering.
schema_fail() {
  local what=$1 pattern=$2
  shift 2
  local msg
  rm -f "$out/bad-values.json"
  "$renderer" --chart "$chart" --out /dev/null --values-json "$out/bad-values.json" "$@" >/dev/null 2>&1 || true
  if msg=$(schema_check "$out/bad-values.json" 2>&1); then
    echo "FAIL schema accepted: $what"
    failed=1
  elif ! grep -qF "$pattern" <<<"$msg"; then
    echo "FAIL $what: unexpected schema error: $msg"
    failed=1
  else
    echo "ok   schema refused: $what"
  fi
}
schema_fail "unknown top-level key (typo)" "(replicas)" --set replicas=3
schema_fail "device name" "/config/devices must be array" --set config.devices=gpu0
schema_fail "maxSurge not a count or percentage" "/rollingUpdate/maxSurge" --set rollingUpdate.maxSurge=one
schema_fail "negative gpu.count" "/gpu/count must be >= 0" --set gpu.count=-1
schema_fail "CPU target over 100%" "targetAverageUtilization must be <= 100" \
  --set autoscaling.cpu.targetAverageUtilization=150

echo "== threads from the CPU limit"
threads_of() {
  "$renderer" --chart "$chart" --out /dev/stdout "$@" | grep -m1 -o 'torch_threads: [0-9]*' | grep -o '[0-9]*$'
}
for case in "4:--set resources.limits.cpu=4" "2:--set resources.limits.cpu=1500m" \
  "1:--set resources.limits.cpu=500m" "3:--set resources.limits.cpu=2.5" \
  "6:--set resources.limits.cpu=4 --set config.torch_threads=6" "0:--set resources.limits.cpu=null"; do
  want=${case%%:*}
  # shellcheck disable=SC2086
  got=$(threads_of ${case#*:})
  if [ "$got" = "$want" ]; then echo "ok   torch_threads $got for ${case#*:}"; else
    echo "FAIL torch_threads '$got', want $want for ${case#*:}"
    failed=1
  fi
done

echo "== PrometheusRule = deploy/alerts.yml (as rules); promtool on both"
python3 - "$out/tls.json" "$root/deploy/alerts.yml" "$out/rule-prod" <<'PY' || failed=1
import json, os, sys, yaml
objects = json.load(open(sys.argv[1]))
rules = [o for o in objects if o["kind"] == "PrometheusRule"]
assert len(rules) == 1, f"{len(rules)} PrometheusRule objects"
rendered = rules[0]["spec"]["groups"]
source = yaml.safe_load(open(sys.argv[2]))["groups"]
if rendered != source:
    print("FAIL the chart's PrometheusRule differs from deploy/alerts.yml")
    print(json.dumps(rendered, indent=1)[:2000])
    sys.exit(1)
n = sum(len(g["rules"]) for g in source)
print(f"ok   PrometheusRule spec.groups == deploy/alerts.yml groups ({n} rules)")
os.makedirs(sys.argv[3], exist_ok=True)
with open(os.path.join(sys.argv[3], "alerts.yml"), "w") as f:
    yaml.safe_dump({"groups": rendered}, f)
PY
if [ -f "$out/rule-prod/alerts.yml" ]; then
  # The rule tests run against the rendered rules too.
  cp "$root/deploy/alerts_test.yml" "$out/rule-prod/alerts_test.yml"
  promtool test rules "$out/rule-prod/alerts_test.yml" || failed=1
fi
# Every alert has a firing and a silent case in deploy/alerts_test.yml.
python3 - "$root/deploy/alerts.yml" "$root/deploy/alerts_test.yml" <<'PY' || failed=1
import sys, yaml
alerts = [r["alert"] for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r]
cases = [c for t in yaml.safe_load(open(sys.argv[2]))["tests"] for c in t.get("alert_rule_test", [])]
bad = []
for a in alerts:
    mine = [c for c in cases if c["alertname"] == a]
    if not any(c.get("exp_alerts") for c in mine):
        bad.append(f"{a}: no firing case")
    if not any(not c.get("exp_alerts") for c in mine):
        bad.append(f"{a}: no silent case")
for b in bad:
    print("FAIL", b)
if bad:
    sys.exit(1)
print(f"ok   {len(alerts)} alerts, each with a firing and a silent case")
PY

echo "== CodiffQueueSaturated follows config.batching.max_queue_size (128 -> 96)"
"$renderer" --chart "$chart" --release prod --set prometheusRule.enabled=true \
  --set config.batching.max_queue_size=128 --json "$out/queue128.json" --out /dev/null
mkdir -p "$out/rule-q128"
python3 - "$out/queue128.json" "$out/rule-q128/alerts.yml" <<'PY' || failed=1
import json, sys, yaml
rule = [o for o in json.load(open(sys.argv[1])) if o["kind"] == "PrometheusRule"][0]
yaml.safe_dump({"groups": rule["spec"]["groups"]}, open(sys.argv[2], "w"))
PY
cat >"$out/rule-q128/queue_test.yml" <<'EOF'
rule_files: [alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'codiff_queue_depth_requests{job="prod-codiff", instance="a"}'
        values: "60x30"
      - series: 'codiff_queue_depth_requests{job="prod-codiff", instance="b"}'
        values: "100x30"
    alert_rule_test:
      - eval_time: 20m
        alertname: CodiffQueueSaturated
        exp_alerts:
          - exp_labels: {severity: warning, job: prod-codiff, instance: b}
            exp_annotations:
              summary: "codiff queue on b is 100 deep"
              description: "The batcher queue averaged over 75% of max_queue_size for 10 minutes."
EOF
promtool test rules "$out/rule-q128/queue_test.yml" || failed=1

echo "== prometheus-adapter rules: PromQL of each metricsQuery"
python3 - "$chart/files/prometheus-adapter-rules.yaml" "$out/adapter" <<'PY' || failed=1
import os, sys, yaml
rules = yaml.safe_load(open(sys.argv[1]))["rules"]
os.makedirs(sys.argv[2], exist_ok=True)
out = []
for i, r in enumerate(rules):
    series = r["seriesQuery"].split("{")[0]
    q = (r["metricsQuery"].replace("<<.Series>>", series)
         .replace("<<.LabelMatchers>>", 'namespace="prod",pod=~"prod-codiff-.*"')
         .replace("<<.GroupBy>>", "pod"))
    out.append({"record": f"adapter_rule_{i}", "expr": q})
yaml.safe_dump({"groups": [{"name": "adapter", "rules": out}]}, open(os.path.join(sys.argv[2], "rules.yml"), "w"))
print(f"ok   {len(out)} adapter rules expanded")
PY
promtool check rules "$out/adapter/rules.yml" || failed=1

echo "== Dockerfile"
python3 "$root/tests/deploy/dockerfile_test.py" "$root/Dockerfile" "$root/README.md" || failed=1

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
