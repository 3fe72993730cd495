#!/usr/bin/env bash
# Builds a libFuzzer target with clang (ASan + UBSan) and runs it for SECONDS
# (one process) seeded with its committed corpus (fuzz/corpus/TARGET).
# Usage: scripts/fuzz.sh TARGET SECONDS      (SECONDS "build": build only)
# Targets:
#   torch_pickle    torch.save reader (restricted unpickler, zip directory)
#   image_decode    ProbeImage + DecodeImage (JPEG, PNG, WebP, BMP, TIFF)
#   jpeg            ParseJpegHeader (both modes) + ReadFirstComponentCoefficients
#   safetensors     ParseSafetensorsHeader (behind SafetensorsFile::Open)
#   model_yaml      model.yaml via ReadModelArchitecture
#   server_config   server config via LoadServerConfig + ValidateServerConfig
# Needs Debian's clang and libfuzzer-14-dev (scripts/install-deps.sh --fuzz).
# model_yaml and server_config reach LibTorch-based code: they compile their
# parsers instrumented and link the rest (for model_yaml: the configs'
# FromJson in the LibTorch modules' files) from a normal build's libraries
# (CODIFF_LIB_DIR, default build/core: libcodiff_core.a, libcodiff_models.a).
# Extra libFuzzer flags: FUZZ_FLAGS (e.g. FUZZ_FLAGS="-runs=1000000").
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?target} seconds=${2:?seconds}
out=build-fuzz
lib_dir=${CODIFF_LIB_DIR:-build/core}
mkdir -p "$out"
read -ra absl_libs <<<"$(pkg-config --libs absl_status absl_statusor absl_strings \
  absl_str_format absl_flat_hash_map)"
read -ra opencv_flags <<<"$(pkg-config --cflags opencv4)"
opencv_libs=(-lopencv_imgcodecs -lopencv_imgproc -lopencv_core -ljpeg)
flags=() libs=()
torch_flags=(-D_GLIBCXX_USE_CXX11_ABI=1 -isystem /usr/include/torch/csrc/api/include)
torch_libs=(-ltorch -ltorch_cpu -lc10)
case "$target" in
  torch_pickle)
    sources=(fuzz/torch_pickle_fuzzer.cc fuzz/fuzz_entries.cc core/weights/pickle_reader.cc
             core/weights/zip_directory.cc) ;;
  image_decode | jpeg)
    sources=("fuzz/${target}_fuzzer.cc" fuzz/image_entries.cc core/image/image_decoder.cc
             core/image/image_probe.cc core/image/jpeg_header.cc core/image/jpeg_coefficients.cc
             core/image/exif_orientation.cc core/image/parse_counters.cc
             core/image/image_metadata.cc core/image/color_profile.cc core/image/jpeg_cmyk.cc)
    flags=("${opencv_flags[@]}")
    libs=("${opencv_libs[@]}" -llcms2 -lz) ;;
  safetensors)
    sources=(fuzz/safetensors_fuzzer.cc fuzz/safetensors_entries.cc core/weights/safetensors.cc
             core/weights/mapped_file.cc) ;;
  model_yaml)
    sources=(fuzz/model_yaml_fuzzer.cc fuzz/model_yaml_entries.cc core/weights/model_folder.cc
             core/models/model_architecture.cc core/util/yaml_json.cc)
    flags=("${torch_flags[@]}")
    libs=("$lib_dir/libcodiff_models.a" "${torch_libs[@]}" -lyaml-cpp -lcrypto) ;;
  server_config)
    sources=(fuzz/server_config_fuzzer.cc fuzz/server_config_entries.cc server/server_config.cc)
    flags=(-DCODIFF_DEFAULT_MODEL_DIR=\"models/default\" "${torch_flags[@]}" "${opencv_flags[@]}")
    libs=("$lib_dir/libcodiff_core.a" "$lib_dir/libcodiff_models.a" "${torch_libs[@]}"
          "${opencv_libs[@]}" -lyaml-cpp -lcrypto) ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I. "${flags[@]}" "${sources[@]}" "${libs[@]}" "${absl_libs[@]}" -o "$out/${target}_fuzzer"
[[ $seconds == build ]] && exit 0
# New inputs go to a scratch corpus; the committed one (fuzz/corpus/TARGET)
# is the seed set that the test build replays. Copy a finding there (and fix
# it) to keep it.
mkdir -p "$out/corpus-$target"
# shellcheck disable=SC2086
"$out/${target}_fuzzer" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
  ${FUZZ_FLAGS:-} "$out/corpus-$target" "fuzz/corpus/$target"
