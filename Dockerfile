# syntax=docker/dockerfile:1.4
# codiff-server container image.
#
# CPU (default):
#   docker build -t codiff-server:0.1.0 .
#
# CUDA (UNTESTED: never built here; our machines cannot pull NVIDIA's
# images): the same code with `devices: [cuda:0]` in the config.
#   builder: nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04 (CUDA 12.6 + cuDNN 9
#            headers, which CUDA LibTorch's CMake config needs; Debian 12 has
#            no cuDNN development package), build packages from Ubuntu 24.04
#            (the same gRPC 1.51 / protobuf 3.21 / absl 20220623 as Debian 12);
#   LibTorch: 2.6.0+cu126, "cxx11 ABI, shared with deps", pinned, fetched
#            outside the build and passed as a named build context:
#     curl -LO https://download.pytorch.org/libtorch/cu126/libtorch-cxx11-abi-shared-with-deps-2.6.0%2Bcu126.zip
#     sha256sum libtorch-*.zip   # record it next to the image tag
#     unzip -q libtorch-*.zip    # -> ./libtorch
#     docker build -t codiff-server:0.1.0-cuda --build-arg VARIANT=cuda \
#       --build-context libtorch=./libtorch .
#   runtime: nvidia/cuda:12.6.3-base-ubuntu24.04 (sets NVIDIA_VISIBLE_DEVICES
#            for the NVIDIA container toolkit), LibTorch's own CUDA/cuDNN
#            libraries, the server's other shared libraries copied from the
#            builder; no Debian CPU LibTorch.
# The driver comes from the host (`docker run --gpus all`, or the nvidia
# RuntimeClass on Kubernetes). tests/deploy/dockerfile_test.py checks the
# stages' bases and environment (there is no hadolint in Debian).
#
# Run:
#   docker run -p 50051:50051 -p 9090:9090 codiff-server:0.1.0
#   docker run -v $PWD/my.yaml:/etc/codiff/config.yaml:ro codiff-server:0.1.0 \
#     --config /etc/codiff/config.yaml
#   docker run -v /models:/models:ro codiff-server:0.1.0 --model /models/x
# Environment: CODIFF_CONFIG (a config file), CODIFF_MODEL (a model folder),
# CODIFF_SERVER (address `codiff health` checks); flags win over both.

# cpu (default) or cuda: picks the builder-* and runtime-* stages below.
ARG VARIANT=cpu
ARG CPU_BUILDER_IMAGE=debian:bookworm
ARG CPU_RUNTIME_IMAGE=debian:bookworm-slim
ARG CUDA_BUILDER_IMAGE=nvidia/cuda:12.6.3-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:12.6.3-base-ubuntu24.04
ARG LIBTORCH_VERSION=2.6.0+cu126

# Empty unless `--build-context libtorch=DIR` supplies a CUDA LibTorch.
FROM scratch AS libtorch

# ---------------------------------------------------------------------------
# CPU builder: Debian 12 with Debian's LibTorch.
FROM ${CPU_BUILDER_IMAGE} AS builder-cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The install script first, alone, so its layer is cached across code changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
# The one install script that the README, CI and the fresh-machine check use.
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The project's build script (Release), installed under /opt/codiff with the
# baked-in model folder compiled in as the default.
RUN CODIFF_BUILD_DIR=/build bash scripts/build.sh -DCODIFF_BUILD_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/opt/codiff \
      -DCODIFF_DEFAULT_MODEL_DIR=/opt/codiff/models/default && \
    cmake --install /build && \
    test -x /opt/codiff/bin/codiff-server && mkdir -p /opt/libtorch

# ---------------------------------------------------------------------------
# CUDA builder (untested here): NVIDIA's CUDA + cuDNN devel image, the pinned
# CUDA LibTorch from the build context, Ubuntu 24.04's build packages (no
# Debian/Ubuntu LibTorch).
FROM ${CUDA_BUILDER_IMAGE} AS builder-cuda
ARG LIBTORCH_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      build-essential cmake ninja-build pkg-config git \
      libopenblas-dev libopencv-dev libjpeg-dev libssl-dev libgoogle-perftools-dev \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev prometheus-cpp-dev libyaml-cpp-dev nlohmann-json3-dev \
      liblcms2-dev zlib1g-dev libboost-dev && \
    rm -rf /var/lib/apt/lists/*
COPY --from=libtorch / /opt/libtorch/
RUN test -f /opt/libtorch/share/cmake/Torch/TorchConfig.cmake || \
      { echo "VARIANT=cuda needs --build-context libtorch=DIR (LibTorch ${LIBTORCH_VERSION})" >&2; exit 1; }; \
    grep -q "${LIBTORCH_VERSION}" /opt/libtorch/build-version || \
      echo "WARNING: LibTorch is $(cat /opt/libtorch/build-version), not ${LIBTORCH_VERSION}" >&2
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCODIFF_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH=/opt/libtorch -DCMAKE_INSTALL_PREFIX=/opt/codiff \
      -DCODIFF_DEFAULT_MODEL_DIR=/opt/codiff/models/default && \
    cmake --build /build && cmake --install /build && \
    test -x /opt/codiff/bin/codiff-server && \
    mkdir -p /opt/codiff/lib && \
    ldd /opt/codiff/bin/* | awk '/=> \// {print $3}' | sort -u | \
      grep -v -E '^/opt/libtorch/|/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' | \
      xargs -r cp -L -t /opt/codiff/lib

# ---------------------------------------------------------------------------
# Both variants: the model folder and the default config.
FROM builder-${VARIANT} AS builder
# The bundled model (issue 7). A checkout without models/default/model.yaml
# gets a seeded random `small` model so that the image still starts; its
# model.yaml says `trained: false`.
RUN mkdir -p /opt/codiff/models && \
    if [ -f models/default/model.yaml ]; then \
      cp -a models/default /opt/codiff/models/default; \
    else \
      echo "WARNING: models/default missing; baking an untrained small model" >&2; \
      /opt/codiff/bin/codiff-model init --preset small --seed 1 --out /opt/codiff/models/default; \
    fi
COPY deploy/server-config.yaml /opt/codiff/etc/config.yaml
RUN sed -i 's|^model_dir: ""|model_dir: "/opt/codiff/models/default"|' /opt/codiff/etc/config.yaml

# ---------------------------------------------------------------------------
# CPU runtime: Debian 12 slim with the runtime packages (the shared objects
# of libtorch-dev, libopencv-dev, libgrpc++-dev, libprotobuf-dev,
# libyaml-cpp-dev, prometheus-cpp-dev, libabsl-dev). No NVIDIA_* variables:
# nothing here uses a GPU.
FROM ${CPU_RUNTIME_IMAGE} AS runtime-cpu
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libtorch1.13 libopenblas0-pthread \
      libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 \
      libgrpc++1.51 libgrpc29 libprotobuf32 \
      libyaml-cpp0.7 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libabsl20220623 libssl3 libtcmalloc-minimal4 liblcms2-2 zlib1g ca-certificates tini && \
    rm -rf /var/lib/apt/lists/*
ENV LD_LIBRARY_PATH=/opt/libtorch/lib

# CUDA runtime (untested here): NVIDIA's base image (CUDA runtime and the
# NVIDIA_VISIBLE_DEVICES / NVIDIA_DRIVER_CAPABILITIES the container toolkit
# reads); LibTorch brings its CUDA and cuDNN libraries, the builder copied
# the server's other shared libraries to /opt/codiff/lib.
FROM ${CUDA_RUNTIME_IMAGE} AS runtime-cuda
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates tini && \
    rm -rf /var/lib/apt/lists/*
ENV LD_LIBRARY_PATH=/opt/libtorch/lib:/opt/codiff/lib

# ---------------------------------------------------------------------------
FROM runtime-${VARIANT} AS runtime
COPY --from=builder /opt/libtorch /opt/libtorch
COPY --from=builder /opt/codiff /opt/codiff
ENV PATH=/opt/codiff/bin:$PATH \
    CODIFF_SERVER=127.0.0.1:50051
RUN missing=$(ldd /opt/codiff/bin/* | grep "not found" || true); \
    if [ -n "$missing" ]; then echo "missing runtime libraries: $missing" >&2; exit 1; fi
RUN groupadd --system --gid 10001 codiff && \
    useradd --system --uid 10001 --gid codiff --home-dir /nonexistent --shell /usr/sbin/nologin codiff
# The entrypoint turns CODIFF_CONFIG / CODIFF_MODEL into flags; arguments
# given to `docker run` are appended and so win.
COPY --chmod=0755 <<'EOF' /opt/codiff/bin/codiff-entrypoint
#!/bin/bash
set -euo pipefail
args=(--config "${CODIFF_CONFIG:-/opt/codiff/etc/config.yaml}")
if [ -n "${CODIFF_MODEL:-}" ]; then args+=(--model "$CODIFF_MODEL"); fi
exec /opt/codiff/bin/codiff-server "${args[@]}" "$@"
EOF
USER 10001:10001
WORKDIR /tmp
EXPOSE 50051 8080 9090
STOPSIGNAL SIGTERM
# Exit 0 only when the server answers SERVING (`codiff health`, issue 5).
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m --retries=3 \
  CMD ["codiff", "health", "--server", "127.0.0.1:50051"]
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/codiff/bin/codiff-entrypoint"]
CMD []
