#include "core/runtime/device.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace codiff::runtime {

std::string LibTorchBuild() {
  const std::string version = absl::StrCat("LibTorch ", TORCH_VERSION);
  if (!torch::cuda::is_available()) return absl::StrCat(version, ", CPU only");
  return absl::StrCat(version, ", CUDA (", torch::cuda::device_count(), " devices)");
}

absl::StatusOr<torch::Device> ParseDevice(const std::string& name) {
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    int64_t index = 0;
    if (name != "cuda" && (!absl::SimpleAtoi(name.substr(5), &index) || index < 0)) {
      return absl::InvalidArgumentError(absl::StrCat("device '", name, "': expected cuda:N"));
    }
    if (!torch::cuda::is_available()) {
      return absl::FailedPreconditionError(
          absl::StrCat("device '", name, "' is configured but this binary's ", LibTorchBuild(),
                       " has no CUDA: build against a CUDA LibTorch (see the Dockerfile's CUDA "
                       "stage) or set devices: [cpu]"));
    }
    const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (index >= count) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device '", name, "' does not exist: ", LibTorchBuild(), " sees ", count, " devices"));
    }
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("device '", name, "': expected cpu, cuda or cuda:N"));
}

absl::StatusOr<torch::ScalarType> ParseComputeDtype(const std::string& name,
                                                    const torch::Device& device) {
  torch::ScalarType type;
  if (name == "float32" || name.empty()) {
    return torch::kFloat32;
  } else if (name == "float16") {
    type = torch::kFloat16;
  } else if (name == "bfloat16") {
    type = torch::kBFloat16;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype '", name, "': expected float32, float16 or bfloat16"));
  }
  if (device.is_cpu()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", name,
                     " on the CPU is not supported: CPU LibTorch has no fast half-precision "
                     "convolutions; use float32 on CPUs and half precision on a CUDA device"));
  }
  return type;
}

void UseIeeeFloat32() {
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
}

}  // namespace codiff::runtime
