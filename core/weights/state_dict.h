// State dicts in PyTorch's order and a strict loader with a load report.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "absl/status/statusor.h"
#include "core/weights/tensor_io.h"

namespace codiff {

// Parameters and buffers in the order PyTorch's state_dict() lists them: a
// module's own parameters, then its own buffers, then each child in
// registration order. Names are dotted paths, as in the reference checkpoints.
NamedTensors StateDictOf(const torch::nn::Module& module);

// "name<TAB>d0,d1,..." lines, the format of the fixtures' key lists.
std::string FormatKeyShapeLines(const NamedTensors& entries);

struct LoadOptions {
  // Prepended to every module key when looking it up in the tensor map
  // (e.g. "unet." when one file holds several parts).
  std::string source_prefix;
  // Keys that may be absent without error (e.g. BatchNorm num_batches_tracked,
  // which eval mode never reads). Matched by suffix.
  std::vector<std::string> optional_suffixes = {"num_batches_tracked"};
  // Maps a module key to the key in the source when spellings differ.
  std::function<std::string(const std::string&)> rename;
};

struct LoadReport {
  int loaded = 0;
  std::vector<std::string> missing_optional;  // Optional keys not in the source.
  std::vector<std::string> unused;            // Source keys the module did not take.
  std::string Summary() const;
};

// Copies every entry of the module's state dict from `source` (dtype converted,
// device kept). Any missing required key or wrong shape is an error naming the
// key; the module is left unchanged in that case.
absl::StatusOr<LoadReport> LoadStateDictStrict(torch::nn::Module& module, const TensorMap& source,
                                               const LoadOptions& options = {});

}  // namespace codiff
