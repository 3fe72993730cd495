#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# seeded with its committed corpus (fuzz/corpus/TARGET).
# Usage: scripts/fuzz.sh TARGET SECONDS     targets: torch_pickle
# Needs Debian's clang and libfuzzer-14-dev (scripts/install-deps.sh --fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target (torch_pickle)} seconds=${2:?seconds}
out=build-fuzz
mkdir -p "$out"
case "$target" in
  torch_pickle)
    sources=(fuzz/torch_pickle_fuzzer.cc fuzz/fuzz_entries.cc core/weights/pickle_reader.cc
             core/weights/zip_directory.cc) ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
absl_libs=$(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format absl_flat_hash_map)
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. "${sources[@]}" $absl_libs -o "$out/${target}_fuzzer"
# New inputs go to a scratch corpus; the committed one (fuzz/corpus/TARGET)
# is the seed set that the test build replays. Copy a finding there (and fix
# it) to keep it.
mkdir -p "$out/corpus-$target"
"$out/${target}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
  "$out/corpus-$target" "fuzz/corpus/$target"
