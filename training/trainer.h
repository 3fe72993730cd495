// Entry points of the two training stages and the export, as library calls
// (the codiff-train binary and the tests both use them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "training/recipe.h"

namespace codiff::training {

struct RunOptions {
  bool resume = false;      // continue from run_dir/checkpoint
  int64_t stop_after = -1;  // stop (with a checkpoint) after this many steps; tests
  bool quiet = false;       // no progress lines
};

struct RunResult {
  int64_t first_step = 0;
  int64_t last_step = 0;             // steps completed
  std::vector<double> total_losses;  // per step run in this call
  nlohmann::json validation;         // last validation report (may be null)
};

absl::StatusOr<RunResult> RunStage1(const Recipe& recipe, const RunOptions& options = {});
absl::StatusOr<RunResult> RunStage2(const Recipe& recipe, const RunOptions& options = {});

// Writes a model folder (core/weights/model_folder.h) from a run directory:
// a stage-2 run gives the trained generator (EMA weights when kept); a
// stage-1 run gives a folder with the trained CaVE and an untrained rest,
// marked trained: false. `generator_from` (a model folder of the same
// architecture; stage-1 runs only) supplies the projection, UNet and VAE and
// the serving flags instead: a CaVE that continued that folder's ships
// with its generator.
absl::Status ExportRun(const std::string& run_dir, const std::string& model_dir,
                       const std::string& generator_from = "");

}  // namespace codiff::training
