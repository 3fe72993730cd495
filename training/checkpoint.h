// Run checkpoints: run_dir/checkpoint/ holds state.json (stage, step, the
// recipe), one safetensors file per trained module and one torch::save file
// per optimizer. A checkpoint is written to a temporary folder and renamed
// into place, so an interrupted save never leaves a half-written one.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/weights/tensor_io.h"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace codiff::training {

struct CheckpointState {
  std::string stage;
  int64_t step = 0;  // the number of completed steps
  nlohmann::json recipe;
  nlohmann::json extra;
};

std::string CheckpointDir(const std::string& run_dir);

absl::Status SaveModuleWeights(const std::string& path, const torch::nn::Module& module);
// Strict: every parameter and buffer must be present with the right shape.
absl::Status LoadModuleWeights(const std::string& path, torch::nn::Module& module);
// The same, except that the file may lack the module's tensors whose names
// start with `may_lack_prefix` (they keep their current values): an older
// checkpoint loaded into a module that has since gained a part.
absl::Status LoadModuleWeights(const std::string& path, torch::nn::Module& module,
                               const std::string& may_lack_prefix);

// Named subsets (the trained parameters only, so LoRA checkpoints of the
// full model stay small): every name in `targets` must be in the file.
absl::Status SaveNamedTensors(const std::string& path, const NamedTensors& tensors);
absl::Status LoadNamedTensorsInto(const std::string& path, const NamedTensors& targets);

absl::Status SaveOptimizerState(const std::string& path, torch::optim::Optimizer& optimizer);
absl::Status LoadOptimizerState(const std::string& path, torch::optim::Optimizer& optimizer);

absl::Status WriteCheckpointState(const std::string& dir, const CheckpointState& state);
absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& dir);

// Staging folder for the next checkpoint, and the swap into place.
std::string StagingDir(const std::string& run_dir);
absl::Status CommitCheckpoint(const std::string& run_dir);

}  // namespace codiff::training
