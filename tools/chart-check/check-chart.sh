#!/usr/bin/env bash
# Renders the Helm chart without helm and validates the result.
#
#   tools/chart-check/check-chart.sh OUTDIR NAME [chart-render args...]
#
# Writes OUTDIR/NAME.yaml (the manifests, like `helm template`),
# OUTDIR/NAME.json (the parsed objects) and OUTDIR/NAME-NOTES.txt, then
#  - validates every object against its Kubernetes schema plus a strict
#    unknown-field check (validate.js, npm kubernetes-models), and
#  - runs yamllint on the rendered stream.
# Tools: golang-go, golang-github-masterminds-sprig-dev, yamllint, nodejs,
# npm (`sudo bash scripts/install-deps.sh --deploy-tools`). The renderer and
# the npm packages are cached in $CODIFF_TOOLS_CACHE (default .cache/chart-check).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -lt 2 ]; then
  echo "usage: $0 OUTDIR NAME [chart-render args...]" >&2
  exit 2
fi
out=$1
name=$2
shift 2
cache=${CODIFF_TOOLS_CACHE:-$root/.cache/chart-check}
mkdir -p "$out" "$cache"

for tool in go yamllint node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "check-chart: $tool not found; run: sudo bash scripts/install-deps.sh --deploy-tools" >&2
    exit 3
  fi
done

# The renderer: rebuilt when its source changes (GOPATH mode, Debian's Go
# packages in /usr/share/gocode; no module downloads).
renderer=$cache/chart-render
if [ ! -x "$renderer" ] || [ "$here/main.go" -nt "$renderer" ]; then
  (cd "$here" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$cache/go-build" \
    GOFLAGS='' go build -o "$renderer" .)
fi

# The schema validators: `npm ci` from the committed lock file, redone when
# the lock file changes.
modules=$cache/node
if ! cmp -s "$here/package-lock.json" "$modules/package-lock.json" ||
  [ ! -d "$modules/node_modules/kubernetes-models" ]; then
  rm -rf "$modules"
  mkdir -p "$modules"
  cp "$here/package.json" "$here/package-lock.json" "$modules/"
  (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

"$renderer" --chart "$root/helm/codiff" "$@" \
  --out "$out/$name.yaml" --json "$out/$name.json" --notes "$out/$name-NOTES.txt"
NODE_PATH="$modules/node_modules" node "$here/validate.js" "$out/$name.json"
yamllint -s -c "$here/yamllint.yaml" "$out/$name.yaml"
echo "check-chart: $name rendered, validated and linted ($out/$name.yaml)"
