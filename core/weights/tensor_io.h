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

// As ReadTensorFile, but without copying: every tensor is a read-only view
// into the file's memory mapping, which stays mapped while any of them lives.
// For loading into a module (the copy is the module's own). Never write into
// these tensors.
absl::StatusOr<TensorMap> MapTensorFile(const std::string& path);

// When `tensor` views a MapTensorFile mapping, drops the mapped pages under
// its bytes from this process's memory (they are read from the file again if
// it is read later); otherwise does nothing. Called once a tensor has been
// copied into a module, so that loading a file holds it resident once, in the
// module, rather than twice (mapping + module) until the map is freed.
void ReleaseMappedPages(const torch::Tensor& tensor);

// Writes tensors in the given order (contiguous CPU copies are made as needed).
absl::Status WriteTensorFile(const std::string& path, const NamedTensors& tensors,
                             const std::map<std::string, std::string>& metadata = {});

}  // namespace codiff
