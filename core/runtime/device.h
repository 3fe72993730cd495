// Devices and compute precision, checked once at start-up against what the
// linked LibTorch can do, so a misconfigured deployment fails with a message
// instead of at its first request.
#pragma once

#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace codiff::runtime {

// "LibTorch 1.13.0, CPU only" / "LibTorch 2.1.0, CUDA 12.1 (2 devices)".
std::string LibTorchBuild();

// "cpu", "cuda", "cuda:N". A CUDA device on a LibTorch without CUDA (or
// without that many devices) is an error that names the build.
absl::StatusOr<torch::Device> ParseDevice(const std::string& name);

// "float32", "float16", "bfloat16" for `device`. Half precision on a CPU is
// refused: CPU LibTorch has no fast half convolutions (it would be slower
// than float32, and some kernels are missing).
absl::StatusOr<torch::ScalarType> ParseComputeDtype(const std::string& name,
                                                    const torch::Device& device);

}  // namespace codiff::runtime
