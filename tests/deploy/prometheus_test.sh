#!/usr/bin/env bash
# Real-Prometheus test: starts codiff-server on loopback, starts Debian's
# prometheus with deploy/prometheus.yml (target rewritten to the server's
# metrics port, alert rules loaded), causes a known number of requests,
# waits for a scrape and asks Prometheus's HTTP API that
#   up{job="codiff",container="codiff-server"} == 1 (the label the alert
#   rules select on) and
#   codiff_requests_total{method="GetModelInfo",code="OK"} == the count we caused,
# that the evaluated alert rules have CodiffReplicaDown and
# CodiffAllReplicasDown neither pending nor firing while the server is up,
# then runs `promtool check rules` / `promtool test rules` on deploy/.
#
#   bash tests/deploy/prometheus_test.sh SERVER_BINARY MODEL_DIR [CLIENT_BINARY]
#
# The requests are GetModelInfo calls made with CLIENT_BINARY (`codiff info`)
# when given, else with python3-grpcio through server reflection-free stubs
# generated from proto/. Exits 77 (skip) with a message when the server
# binary, the model folder or prometheus is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
server=${1:-}
model=${2:-}
client=${3:-}
requests=${CODIFF_PROM_TEST_REQUESTS:-5}

skip() {
  echo "SKIP prometheus_test: $*"
  exit 77
}
if [ -z "$server" ] || [ ! -x "$server" ]; then
  skip "server binary '${server}' not found (usage: $0 SERVER MODEL_DIR [CLIENT])"
fi
if [ -z "$model" ] || [ ! -f "$model/model.yaml" ]; then
  skip "model folder '${model}' has no model.yaml"
fi
command -v prometheus >/dev/null || skip "prometheus not installed (sudo bash scripts/install-deps.sh --deploy-tools)"
command -v promtool >/dev/null || skip "promtool not installed"
command -v curl >/dev/null || skip "curl not installed"
if [ -z "$client" ]; then
  python3 -c 'import grpc, grpc_tools' 2>/dev/null ||
    skip "no client binary given and python3-grpcio/python3-grpc-tools not installed"
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
grpc_port=$(free_port)
metrics_port=$(free_port)
prom_port=$(free_port)
start=$(date +%s)

# 1. The server, with a small queue delay so that the test is quick.
cat >"$work/server.yaml" <<EOF
listen: "127.0.0.1:$grpc_port"
metrics_listen: "127.0.0.1:$metrics_port"
http_listen: "127.0.0.1:0"
model_dir: "$model"
log_requests: false
EOF
"$server" --config "$work/server.yaml" >"$work/server.log" 2>&1 &
pids+=($!)
echo "server: pid ${pids[0]}, gRPC 127.0.0.1:$grpc_port, metrics 127.0.0.1:$metrics_port"
for _ in $(seq 1 300); do
  curl -fs "http://127.0.0.1:$metrics_port/metrics" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/server.log"; echo "FAIL server exited"; exit 1; }
  sleep 0.2
done
curl -fs "http://127.0.0.1:$metrics_port/metrics" >/dev/null || { echo "FAIL no /metrics"; exit 1; }

# 2. Requests: $requests GetModelInfo calls (cheap, no model compute).
call_info() {
  if [ -n "$client" ]; then
    "$client" info --server "127.0.0.1:$grpc_port" >/dev/null
  else
    python3 "$work/info.py" "127.0.0.1:$grpc_port"
  fi
}
if [ -z "$client" ]; then
  mkdir -p "$work/stubs"
  python3 -m grpc_tools.protoc -I "$root/proto" --python_out="$work/stubs" \
    --grpc_python_out="$work/stubs" "$root/proto/codiff/v1/codiff.proto"
  cat >"$work/info.py" <<'EOF'
import sys, time
sys.path.insert(0, sys.path[0] + "/stubs")
import grpc
from codiff.v1 import codiff_pb2, codiff_pb2_grpc
channel = grpc.insecure_channel(sys.argv[1])
stub = codiff_pb2_grpc.RestorationStub(channel)
for attempt in range(600):  # wait for model load (UNAVAILABLE until ready)
    try:
        stub.GetModelInfo(codiff_pb2.GetModelInfoRequest(), timeout=10)
        break
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.UNAVAILABLE:
            raise
        time.sleep(0.5)
else:
    sys.exit("server never became ready")
EOF
fi
# Wait for readiness first (its UNAVAILABLE answers are counted under their
# own code), then count only OK answers.
for _ in $(seq 1 600); do
  call_info 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/server.log"; echo "FAIL server exited"; exit 1; }
  sleep 0.5
done
before=$(curl -fs "http://127.0.0.1:$metrics_port/metrics" |
  awk '/^codiff_requests_total\{/ && /method="GetModelInfo"/ && /code="OK"/ {print $2}')
before=${before:-0}
for _ in $(seq 2 "$requests"); do call_info; done
expected=$(python3 -c "print(int(float('$before')) + $requests - 1)")
echo "caused: $requests GetModelInfo calls; the server's counter should read $expected"

# 3. Prometheus with the project's scrape config, target on loopback.
mkdir -p "$work/prom/data"
sed -e "s/codiff-server:9090/127.0.0.1:$metrics_port/" \
  -e 's/scrape_interval: 15s/scrape_interval: 1s/' \
  -e 's/evaluation_interval: 15s/evaluation_interval: 1s/' \
  "$root/deploy/prometheus.yml" >"$work/prom/prometheus.yml"
cp "$root/deploy/alerts.yml" "$work/prom/alerts.yml"
grep -q "127.0.0.1:$metrics_port" "$work/prom/prometheus.yml" || { echo "FAIL target not rewritten"; exit 1; }
prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prom.log" 2>&1 &
pids+=($!)

query() {  # prints the first result's value, or nothing
  curl -fsG "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
up="" count=""
for _ in $(seq 1 120); do
  up=$(query 'up{job="codiff",container="codiff-server"}')
  count=$(query 'codiff_requests_total{job="codiff",method="GetModelInfo",code="OK"}')
  [ "$up" = 1 ] && [ -n "$count" ] && [ "$count" = "$expected" ] && break
  sleep 0.5
done
failed=0
if [ "$up" = 1 ]; then echo "ok   up{job=\"codiff\"} = 1"; else echo "FAIL up{job=\"codiff\"} = '$up'"; failed=1; fi
if [ "$count" = "$expected" ]; then
  echo "ok   codiff_requests_total{method=\"GetModelInfo\",code=\"OK\"} = $count (as caused)"
else
  echo "FAIL codiff_requests_total{method=\"GetModelInfo\",code=\"OK\"} = '$count', want $expected"
  failed=1
fi
rules=$(curl -fs "http://127.0.0.1:$prom_port/api/v1/rules" |
  python3 -c 'import json,sys; print(sum(len(g["rules"]) for g in json.load(sys.stdin)["data"]["groups"]))' || echo 0)
if [ "$rules" -gt 0 ]; then echo "ok   Prometheus loaded $rules alert rules"; else echo "FAIL no rules loaded"; failed=1; fi
# The rules as Prometheus evaluates them: with the server up, neither
# down-alert may be pending or firing (the old job="codiff"-bound rules fired
# CodiffAllReplicasDown under any other job name).
evaluated=""
for _ in $(seq 1 40); do
  evaluated=$(curl -fs "http://127.0.0.1:$prom_port/api/v1/rules" | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
print(sum(1 for r in rules if not r.get("lastEvaluation", "").startswith("0001")))' 2>/dev/null || true)
  [ "${evaluated:-0}" -gt 0 ] && break
  sleep 0.5
done
sleep 2
down=$(curl -fsG "http://127.0.0.1:$prom_port/api/v1/query" \
  --data-urlencode 'query=ALERTS{alertname=~"CodiffReplicaDown|CodiffAllReplicasDown"}' |
  python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))' || echo error)
if [ "${evaluated:-0}" -gt 0 ] && [ "$down" = 0 ]; then
  echo "ok   rules evaluated ($evaluated); no down alert pending or firing with the server up"
else
  echo "FAIL down alerts with the server up: '$down' (rules evaluated: '$evaluated')"
  failed=1
fi

# 4. The alert rules.
promtool check rules "$root/deploy/alerts.yml" || failed=1
promtool test rules "$root/deploy/alerts_test.yml" || failed=1

echo "prometheus_test: $(($(date +%s) - start)) s"
if [ $failed -ne 0 ]; then
  tail -20 "$work/prom.log"
  echo "prometheus_test: FAILED"
  exit 1
fi
echo "prometheus_test: PASSED"
