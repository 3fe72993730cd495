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

// float32 means IEEE float32 on CUDA too: LibTorch's default lets cuDNN run
// float32 convolutions in TF32 (10-bit mantissa), which moved the VAE
// parity fixture's output by 9e-3 on an H200, 90x the CPU-vs-reference
// difference. Who wants that speed asks for float16 or bfloat16, which are
// faster still. Process-wide; called wherever a model is placed.
void UseIeeeFloat32();

}  // namespace codiff::runtime
