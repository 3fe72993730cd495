#!/usr/bin/env bash
# Unpacks the Debian packages of the small C++ libraries the models-only build
# needs (absl, yaml-cpp, nlohmann-json, OpenSSL, GoogleTest) into
# .devdeps/root, for a GPU machine that can install nothing: carry .devdeps/root
# there and scripts/device-check.sh builds against it. Runs here (apt).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .devdeps && mkdir -p .devdeps/debs
(cd .devdeps/debs && apt-get download libabsl-dev libabsl20220623 libyaml-cpp-dev libyaml-cpp0.7 \
  nlohmann-json3-dev libssl-dev libssl3 libgtest-dev libgmock-dev)
for deb in .devdeps/debs/*.deb; do dpkg -x "$deb" .devdeps/root; done
# Shared libraries and headers are enough; drop what only weighs.
rm -rf .devdeps/root/usr/share/doc .devdeps/root/usr/share/man
find .devdeps/root -name 'libabsl*.a' -o -name 'libssl.a' -o -name 'libcrypto.a' | xargs rm -f
du -sh .devdeps/root
