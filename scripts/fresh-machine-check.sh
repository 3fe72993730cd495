#!/usr/bin/env bash
# Fresh-machine check ("verifying a release"): proves that the README's two
# set-up commands work on a Debian 12 machine that has never seen the project.
#
#   sudo bash scripts/fresh-machine-check.sh [--workdir DIR] [--keep] [--debootstrap-only]
#
# 1. debootstrap a clean Debian 12 (bookworm, minbase + sudo) root in a
#    scratch folder, with the host's apt sources;
# 2. copy the project in (no build folders, no caches, no .git);
# 3. in a chroot, run the README's commands exactly as written:
#      sudo bash scripts/run.sh    (install + build + serve; run in the
#                                   background until the checks below pass)
#      sudo bash scripts/test.sh   (install + build + tests)
# 4. check that the served bundled model answers `codiff health` and one
#    `codiff restore` of a JPEG.
# Prints the minutes each step took. Takes long (a full build from nothing on
# a fresh root): it is not part of the test suite. Needs root, debootstrap
# (`sudo bash scripts/install-deps.sh --deploy-tools`) and the Debian mirror.
set -euo pipefail

project=$(cd "$(dirname "$0")/.." && pwd)
workdir=""
keep=0
debootstrap_only=0
while [ $# -gt 0 ]; do
  case $1 in
    --workdir) workdir=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --debootstrap-only) debootstrap_only=1; shift ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "fresh-machine-check: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "fresh-machine-check: run as root (sudo)" >&2; exit 2; }
command -v debootstrap >/dev/null ||
  { echo "fresh-machine-check: install debootstrap (scripts/install-deps.sh --deploy-tools)" >&2; exit 2; }

# The host's Debian mirror, so that the check uses the same package source.
mirror=$(grep -hoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null |
  awk '{print $2}' | grep -v security | head -1 || true)
if [ -z "$mirror" ]; then
  mirror=$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' |
    grep -v security | head -1 || true)
fi
[ -n "$mirror" ] || { echo "fresh-machine-check: no Debian mirror in /etc/apt" >&2; exit 2; }

workdir=${workdir:-$(mktemp -d /var/tmp/codiff-fresh.XXXXXX)}
root=$workdir/root
mkdir -p "$root"
log=$workdir/log
mkdir -p "$log"
declare -a step_names=() step_minutes=()
server_pid=""

minutes_since() { awk -v s="$1" -v e="$(date +%s)" 'BEGIN {printf "%.1f", (e - s) / 60}'; }
step() {  # step NAME COMMAND...: runs and records the time
  local name=$1 t0
  shift
  echo "== $name"
  t0=$(date +%s)
  "$@"
  step_names+=("$name")
  step_minutes+=("$(minutes_since "$t0")")
  echo "   $name: ${step_minutes[-1]} min"
}
report() {
  echo
  echo "fresh-machine-check: minutes per step"
  local i
  for i in "${!step_names[@]}"; do
    printf '  %6s  %s\n' "${step_minutes[$i]}" "${step_names[$i]}"
  done
}
in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM=dumb bash -c "$1"; }

cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  for m in dev/pts dev sys proc; do
    mountpoint -q "$root/$m" && umount -l "$root/$m"
  done
  report
  if [ $keep -eq 0 ] && [ -d "$root" ]; then
    rm -rf "$workdir"
  else
    echo "kept: $workdir (logs in $log)"
  fi
}
trap cleanup EXIT

do_debootstrap() {
  debootstrap --variant=minbase --include=sudo,ca-certificates bookworm "$root" "$mirror" \
    >"$log/debootstrap.log" 2>&1 || { tail -20 "$log/debootstrap.log"; return 1; }
  # The host's apt sources (main + updates + security), as a fresh install has.
  if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
    cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
    : >"$root/etc/apt/sources.list"
  fi
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # What an installer (and every container runtime) writes: debootstrap
  # leaves no /etc/hosts, and without it localhost does not resolve.
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  echo codiff-fresh >"$root/etc/hostname"
  mount -t proc proc "$root/proc"
  mount --rbind /sys "$root/sys"
  mount --bind /dev "$root/dev"
  mount --bind /dev/pts "$root/dev/pts"
  # shellcheck disable=SC2016  # expanded inside the chroot
  in_root 'test -f /etc/debian_version && echo "debian $(cat /etc/debian_version)"'
}
step "debootstrap Debian 12 minbase" do_debootstrap
if [ $debootstrap_only -eq 1 ]; then
  exit 0
fi

copy_project() {
  mkdir -p "$root/root/codiff"
  tar -C "$project" --exclude=./.git --exclude='./build*' --exclude=./.cache -cf - . |
    tar -C "$root/root/codiff" -xf -
  du -sh "$root/root/codiff"
}
step "copy the project" copy_project

# README command 1, in the background: install + build + serve.
port_busy() { (exec 3<>/dev/tcp/127.0.0.1/50051) 2>/dev/null; }
if port_busy; then
  echo "fresh-machine-check: port 50051 is already in use on this machine" >&2
  exit 1
fi
run_and_wait() {
  setsid chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 bash -c 'cd /root/codiff && sudo bash scripts/run.sh' >"$log/run.log" 2>&1 &
  server_pid=$!
  local client=""
  for _ in $(seq 1 2880); do  # up to 4 hours for install + build + model load
    if ! kill -0 "$server_pid" 2>/dev/null; then
      tail -30 "$log/run.log"
      echo "fresh-machine-check: scripts/run.sh exited before serving" >&2
      return 1
    fi
    # The build folder does not exist until the build starts: no match is not an error.
    client=$(cd "$root" && find root/codiff/build -name codiff -type f -perm -u+x 2>/dev/null | head -1 || true)
    if [ -n "$client" ] && in_root "/$client health --server 127.0.0.1:50051" >/dev/null 2>&1; then
      echo "$client" >"$log/client"
      return 0
    fi
    sleep 5
  done
  echo "fresh-machine-check: no SERVING answer in 4 hours" >&2
  return 1
}
step "sudo bash scripts/run.sh (install + build + serve until SERVING)" run_and_wait
client=/$(cat "$log/client")

check_served() {
  in_root "$client health --server 127.0.0.1:50051"
  local jpeg
  jpeg=$(cd "$root" && find root/codiff/tests/testdata -iname '*.jpg' -size -2M | head -1)
  [ -n "$jpeg" ] || { echo "no test JPEG found" >&2; return 1; }
  in_root "rm -rf /tmp/restored && $client restore /$jpeg -o /tmp/restored --server 127.0.0.1:50051"
  # shellcheck disable=SC2016  # expanded inside the chroot
  in_root 'ls -l /tmp/restored && test -n "$(ls -A /tmp/restored)"'
}
step "codiff health + one codiff restore on the served model" check_served

stop_server() {
  kill -TERM -- "-$server_pid" 2>/dev/null || kill -TERM "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
step "stop the server (SIGTERM)" stop_server

# README command 2: install + build + tests (the build is already there, as
# on a developer's machine after command 1).
run_tests() {
  if ! in_root 'cd /root/codiff && sudo bash scripts/test.sh' >"$log/test.log" 2>&1; then
    tail -30 "$log/test.log"
    echo "fresh-machine-check: scripts/test.sh failed" >&2
    return 1
  fi
  tail -5 "$log/test.log"
}
step "sudo bash scripts/test.sh (install + build + tests)" run_tests

echo "fresh-machine-check: PASSED"
