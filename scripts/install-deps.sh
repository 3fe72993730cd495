#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages.
# Idempotent: packages already present are left alone. Runs as root or via sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format
  libtorch-dev libopenblas0-pthread
  libopencv-dev libjpeg-dev libssl-dev libgoogle-perftools-dev liblcms2-dev zlib1g-dev
  libimage-exiftool-perl
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libyaml-cpp-dev nlohmann-json3-dev libboost-dev
  libgtest-dev libgmock-dev
  python3-grpcio python3-grpc-tools python3-pkg-resources python3-yaml python3-pytest prometheus
)

# --deploy-tools: also the tools of the deployment checks (chart rendering and
# validation, Prometheus test, fresh-machine check); see tests/deploy/.
# Command-line tools are added only when their command is missing, so that a
# nodejs that already brings npm is left alone.
if [ "${1:-}" = "--deploy-tools" ]; then
  packages+=(golang-github-masterminds-sprig-dev)
  for tool in go:golang-go yamllint:yamllint promtool:prometheus debootstrap:debootstrap \
    node:nodejs npm:npm curl:curl; do
    command -v "${tool%%:*}" >/dev/null || packages+=("${tool#*:}")
  done
fi

# --fuzz: clang and libFuzzer for scripts/fuzz.sh.
if [ "${1:-}" = "--fuzz" ]; then
  packages+=(clang libfuzzer-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
