# syntax=docker/dockerfile:1.4
# codiff-server container image.
#
# CPU (default):
#   docker build -t codiff-server:0.1.0 .
#
# CUDA: the same code with `devices: [cuda:0]` in the config. Supply a CUDA
# build of LibTorch (the "cxx11 ABI, shared with deps" archive, unpacked; its
# CUDA must match Debian 12's nvidia-cuda-toolkit 11.8, i.e. a cu118 build)
# as a named build context:
#   docker build -t codiff-server:0.1.0-cuda --build-arg VARIANT=cuda \
#     --build-context libtorch=/path/to/libtorch .
# The CUDA runtime libraries (cudart, cuBLAS, cuDNN) come with that LibTorch;
# the driver comes from the host through the NVIDIA container toolkit
# (`docker run --gpus all`, or the nvidia RuntimeClass on Kubernetes).
# RUNTIME_IMAGE may name an NVIDIA CUDA base image instead of Debian slim
# when it is Debian 12 based (the runtime packages below are Debian 12's).
#
# Run:
#   docker run -p 50051:50051 -p 9090:9090 codiff-server:0.1.0
#   docker run -v $PWD/my.yaml:/etc/codiff/config.yaml:ro codiff-server:0.1.0 \
#     --config /etc/codiff/config.yaml
#   docker run -v /models:/models:ro codiff-server:0.1.0 --model /models/x
# Environment: CODIFF_CONFIG (a config file), CODIFF_MODEL (a model folder),
# CODIFF_SERVER (address `codiff health` checks); flags win over both.

ARG VARIANT=cpu
ARG BUILDER_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# Empty unless `--build-context libtorch=DIR` supplies a CUDA LibTorch.
FROM scratch AS libtorch

# ---------------------------------------------------------------------------
FROM ${BUILDER_IMAGE} AS builder
ARG VARIANT
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
# The install script first, alone, so its layer is cached across code changes.
COPY scripts/install-deps.sh scripts/install-deps.sh
# The one install script that the README, CI and the fresh-machine check use.
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY --from=libtorch / /opt/libtorch/
RUN if [ "$VARIANT" = cuda ]; then \
      test -f /opt/libtorch/share/cmake/Torch/TorchConfig.cmake || \
        { echo "VARIANT=cuda needs --build-context libtorch=DIR (a CUDA LibTorch)" >&2; exit 1; }; \
      sed -i 's/^Components: main$/Components: main contrib non-free non-free-firmware/' \
        /etc/apt/sources.list.d/debian.sources; \
      apt-get update -qq && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        nvidia-cuda-toolkit && rm -rf /var/lib/apt/lists/*; \
    fi
COPY . .
# The project's build script (Release), installed under /opt/codiff with the
# baked-in model folder compiled in as the default.
RUN extra=(); \
    if [ "$VARIANT" = cuda ]; then extra+=(-DCMAKE_PREFIX_PATH=/opt/libtorch); fi; \
    CODIFF_BUILD_DIR=/build bash scripts/build.sh -DCODIFF_BUILD_TESTS=OFF \
      -DCMAKE_INSTALL_PREFIX=/opt/codiff \
      -DCODIFF_DEFAULT_MODEL_DIR=/opt/codiff/models/default "${extra[@]}" && \
    cmake --install /build && \
    test -x /opt/codiff/bin/codiff-server
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
FROM ${RUNTIME_IMAGE} AS runtime
ARG VARIANT
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Runtime libraries only (the shared objects of libtorch-dev, libopencv-dev,
# libgrpc++-dev, libprotobuf-dev, libyaml-cpp-dev, prometheus-cpp-dev,
# libabsl-dev); `ldd` below proves nothing is missing.
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libtorch1.13 libopenblas0-pthread \
      libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 \
      libgrpc++1.51 libgrpc29 libprotobuf32 \
      libyaml-cpp0.7 libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libabsl20220623 libssl3 libtcmalloc-minimal4 ca-certificates tini && \
    rm -rf /var/lib/apt/lists/*
COPY --from=builder /opt/libtorch /opt/libtorch
COPY --from=builder /opt/codiff /opt/codiff
ENV PATH=/opt/codiff/bin:$PATH \
    LD_LIBRARY_PATH=/opt/libtorch/lib \
    CODIFF_SERVER=127.0.0.1:50051 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
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
EXPOSE 50051 9090
STOPSIGNAL SIGTERM
# Exit 0 only when the server answers SERVING (`codiff health`, issue 5).
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m --retries=3 \
  CMD ["codiff", "health", "--server", "127.0.0.1:50051"]
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/codiff/bin/codiff-entrypoint"]
CMD []
