#!/usr/bin/env bash
# HTTP vs gRPC throughput in one run (issue 31): one codiff-server, the same
# image and concurrency, `codiff load` over gRPC, then as many keep-alive
# HTTP callers POSTing to /v1/restore for as long; prints both rates and
# their ratio (the issue asks for HTTP within 10% of gRPC).
#
#   bash benchmarks/http_vs_grpc.sh [IMAGE] [CONCURRENCY] [SECONDS]
#
# Defaults: a 512x512 JPEG crop made from tests/testdata, 4 callers, 60 s,
# the bundled model (CODIFF_MODEL overrides), the build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${CODIFF_BUILD_DIR:-build}
model=${CODIFF_MODEL:-models/default}
image=${1:-}
concurrency=${2:-4}
seconds=${3:-60}
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -INT "$server_pid" 2> /dev/null && wait "$server_pid" || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/images"
if [ -z "$image" ]; then
  image=tests/testdata/fixtures/pipeline_tiled/untiled_800x600.jpg
fi
cp "$image" "$work/images/"

"$build/server/codiff-server" --model "$model" --listen 127.0.0.1:0 --http_listen 127.0.0.1:0 \
  --metrics_listen 127.0.0.1:0 2> "$work/server.log" &
server_pid=$!
for _ in $(seq 600); do
  grep -q '"event":"serving"' "$work/server.log" && break
  sleep 0.1
done
grep -q '"event":"serving"' "$work/server.log" || { cat "$work/server.log"; exit 1; }
ports=$(/usr/bin/python3 - "$work/server.log" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.startswith("{") and '"listening"' in line:
        e = json.loads(line)
        print(e["grpc_port"], e["http_port"])
PY
)
read -r grpc_port http_port <<< "$ports"

echo "== gRPC: codiff load, $concurrency callers, $seconds s ($image)"
"$build/client/codiff" load "$work/images" --server "127.0.0.1:$grpc_port" \
  --concurrency "$concurrency" --duration "$seconds" --json > "$work/grpc.json"
grpc_rate=$(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["requests_per_s"])' "$work/grpc.json")

echo "== HTTP: POST /v1/restore, $concurrency keep-alive callers, $seconds s"
http_rate=$(/usr/bin/python3 - "$http_port" "$image" "$concurrency" "$seconds" <<'PY'
import http.client, sys, threading, time
port, path, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
body = open(path, "rb").read()
ok, failed, lock = [0], [0], threading.Lock()
start = time.monotonic()
end = start + seconds
def caller():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    while time.monotonic() < end:
        c.request("POST", "/v1/restore", body, {"Content-Type": "image/jpeg"})
        r = c.getresponse()
        r.read()
        with lock:
            (ok if r.status == 200 else failed)[0] += 1
threads = [threading.Thread(target=caller) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
print(f"{(ok[0] + failed[0]) / elapsed:.4f}")
if failed[0]:
    print(f"http: {failed[0]} requests failed", file=sys.stderr)
PY
)
/usr/bin/python3 -c 'import sys; g, h = float(sys.argv[1]), float(sys.argv[2]); print(f"gRPC {g:.3f} req/s, HTTP {h:.3f} req/s, HTTP/gRPC {h / g:.3f}")' \
  "$grpc_rate" "$http_rate"
