#!/usr/bin/env bash
# Checks that `codiff-model keys` prints exactly a fixture's key list.
# usage: compare_keys.sh CODIFF_MODEL PRESET PART EXPECTED_TSV [COLUMNS]
set -euo pipefail
tool=$1 preset=$2 part=$3 expected=$4 columns=${5:-1,2}
actual=$(mktemp)
trap 'rm -f "$actual"' EXIT
"$tool" keys --preset "$preset" --part "$part" > "$actual"
if diff <(cut -f"$columns" "$expected") "$actual" > /dev/null; then
  echo "keys --preset $preset --part $part: $(wc -l < "$actual") lines, identical to $(basename "$expected")"
else
  diff <(cut -f"$columns" "$expected") "$actual" | head -20
  echo "keys --preset $preset --part $part differs from $expected" >&2
  exit 1
fi
