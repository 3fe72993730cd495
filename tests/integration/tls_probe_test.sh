#!/usr/bin/env bash
# The chart's TLS probes, for real: codiff-server with TLS (a throw-away CA
# and a server certificate for localhost, made with openssl), then the exec
# probe command the chart renders (`codiff health --server localhost:PORT
# --ca CA ...`, see helm/codiff/templates/deployment.yaml) must succeed,
# while plaintext calls (the kubelet's gRPC probe, a plaintext Restore) are
# refused. Then the same with mutual TLS (tls.clientAuth): the probe with the
# server's own certificate as client certificate succeeds, one without a
# client certificate is refused.
#   tls_probe_test.sh SERVER_BINARY CLIENT_BINARY MODEL_TOOL TESTDATA_DIR
set -euo pipefail
server=$1
client=$2
model_tool=$3
testdata=$4
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }
# The certificate and the probe name localhost: without it in /etc/hosts (a
# bare debootstrap root has none) the probe would retry until CTest's timeout.
getent hosts localhost >/dev/null ||
  { echo "FAIL localhost does not resolve on this machine (no /etc/hosts entry?)"; exit 1; }
work=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap 'stop_server; rm -rf "$work"' EXIT
fail() {
  echo "FAIL $*"
  [ -f "$work/server.log" ] && tail -20 "$work/server.log"
  exit 1
}

# 1. A CA, a server certificate naming localhost (as the chart's probes
#    need), both in the layout of a cert-manager Secret: tls.crt, tls.key,
#    ca.crt.
tls=$work/tls
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=codiff test CA" \
  -keyout "$work/ca.key" -out "$tls/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=codiff-server" \
  -keyout "$tls/tls.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,DNS:codiff.default.svc,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$tls/ca.crt" -CAkey "$work/ca.key" \
  -CAcreateserial -days 1 -extfile "$work/san.ext" -out "$tls/tls.crt" 2>/dev/null

# 2. A tiny random model.
"$model_tool" init --preset tiny --seed 7 --out "$work/model" >/dev/null

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_server() {  # $1: extra YAML under tls:
  port=$(free_port)
  metrics_port=$(free_port)
  cat >"$work/server.yaml" <<YAML
listen: "0.0.0.0:$port"
metrics_listen: "127.0.0.1:$metrics_port"
model_dir: "$work/model"
log_requests: false
torch_threads: 1
tls:
  cert_file: "$tls/tls.crt"
  key_file: "$tls/tls.key"
$1
YAML
  OMP_NUM_THREADS=1 "$server" --config "$work/server.yaml" >"$work/server.log" 2>&1 &
  server_pid=$!
}
# The chart's probe command (readiness/startup; liveness uses --service "").
probe() {  # $1: service, then extra args
  local service=$1
  shift
  "$client" health --server "localhost:$port" --ca "$tls/ca.crt" "$@" --quiet \
    --service "$service" --deadline 3 --connect-timeout 3
}
wait_ready() {
  for _ in $(seq 1 240); do
    probe codiff.v1.Restoration "$@" && return 0
    kill -0 "$server_pid" 2>/dev/null || fail "server exited"
    sleep 0.5
  done
  fail "the TLS readiness probe never succeeded"
}

# 3. TLS.
start_server ""
wait_ready
echo "ok   readiness probe: codiff health --ca over TLS to localhost exits 0"
probe "" || fail "liveness probe (service \"\") over TLS"
echo "ok   liveness probe (service \"\") over TLS exits 0"
# What the kubelet's gRPC probe would do: plaintext health.
if "$client" health --server "127.0.0.1:$port" --quiet --deadline 3 --connect-timeout 3; then
  fail "plaintext health check answered by a TLS server"
fi
echo "ok   plaintext health check refused (why the chart uses exec probes)"
# A plaintext Restore is refused; the same Restore over TLS works.
cp "$testdata/image/grey.jpg" "$work/in.jpg"
mkdir -p "$work/plain" "$work/tls-out"
set +e
"$client" restore "$work/in.jpg" -o "$work/plain" --server "127.0.0.1:$port" --connect-timeout 3 \
  >"$work/plain.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "plaintext Restore succeeded against the TLS server"
[ -z "$(ls -A "$work/plain")" ] || fail "plaintext Restore wrote $(ls "$work/plain")"
echo "ok   plaintext Restore refused (exit $rc, no output)"
"$client" restore "$work/in.jpg" -o "$work/tls-out" --server "localhost:$port" --ca "$tls/ca.crt" \
  >"$work/tls.log" 2>&1 || { cat "$work/tls.log"; fail "Restore over TLS"; }
[ -n "$(ls -A "$work/tls-out")" ] || fail "Restore over TLS wrote nothing"
echo "ok   Restore over TLS with --ca: $(ls "$work/tls-out")"
# --tls-server-name: the name checked is the one given, not --server's
# host (a port-forward to localhost reaching a certificate for the Service).
"$client" health --server "127.0.0.1:$port" --ca "$tls/ca.crt" --tls-server-name codiff.default.svc \
  --quiet --deadline 3 --connect-timeout 3 || fail "health with --tls-server-name codiff.default.svc"
echo "ok   --tls-server-name codiff.default.svc (a name in the certificate) accepted"
if "$client" health --server "localhost:$port" --ca "$tls/ca.crt" --tls-server-name other.example \
  --quiet --deadline 3 --connect-timeout 3 2>/dev/null; then
  fail "health with --tls-server-name other.example (not in the certificate) succeeded"
fi
echo "ok   --tls-server-name other.example (not in the certificate) refused"
# A probe that trusts another CA is refused (the --ca matters).
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=other CA" \
  -keyout "$work/other.key" -out "$work/other-ca.crt" 2>/dev/null
if "$client" health --server "localhost:$port" --ca "$work/other-ca.crt" --quiet --deadline 3 \
  --connect-timeout 3 2>/dev/null; then
  fail "health check trusting another CA succeeded"
fi
echo "ok   health check trusting another CA refused"
stop_server

# 4. Mutual TLS (the chart's tls.clientAuth: client_ca_file = ca.crt, the
#    probes present tls.crt/tls.key).
start_server "  client_ca_file: \"$tls/ca.crt\""
wait_ready --cert "$tls/tls.crt" --key "$tls/tls.key"
echo "ok   mTLS readiness probe with --cert/--key exits 0"
if probe codiff.v1.Restoration; then
  fail "mTLS server answered a probe without a client certificate"
fi
echo "ok   probe without a client certificate refused by the mTLS server"
stop_server
echo "tls_probe_test: PASSED"
