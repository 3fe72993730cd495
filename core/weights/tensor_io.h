// Safetensors files <-> LibTorch tensors.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace codiff {

using TensorMap = std::map<std::string, torch::Tensor>;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads every tensor of a safetensors file into owned CPU tensors with the
// file's dtype (F16/BF16 stay as they are; the loader converts on copy).
absl::StatusOr<TensorMap> ReadTensorFile(const std::string& path);

// Writes tensors in the given order (contiguous CPU copies are made as needed).
absl::Status WriteTensorFile(const std::string& path, const NamedTensors& tensors,
                             const std::map<std::string, std::string>& metadata = {});

}  // namespace codiff
