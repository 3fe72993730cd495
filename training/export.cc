// codiff-train export: a run directory -> a model folder the server loads.
#include <cstdio>
#include <filesystem>
#include <tuple>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/model_architecture.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/model_folder.h"
#include "training/checkpoint.h"
#include "training/data/pair_dataset.h"
#include "training/stage2_model.h"
#include "training/trainer.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;

// The server returns JPEGs above the trained range unrestored, so the folder
// records the range the recipe drew QFs from.
ModelProvenance ExportProvenance(bool trained, std::string description) {
  ModelProvenance provenance;
  provenance.trained = trained;
  provenance.description = std::move(description);
  provenance.created_by = "codiff-train export";
  return provenance;
}

ModelProvenance WithTrainedRange(ModelProvenance provenance, const Recipe& recipe) {
  std::tie(provenance.trained_qf_min, provenance.trained_qf_max) =
      QualityFactorRange(recipe.data.degradation);
  return provenance;
}

absl::Status ExportImpl(const std::string& run_dir, const std::string& model_dir) {
  const std::string dir = CheckpointDir(run_dir);
  ASSIGN_OR_RETURN(CheckpointState state, ReadCheckpointState(dir));
  // Paths in a stored recipe were made absolute when it was first read.
  ASSIGN_OR_RETURN(Recipe recipe, RecipeFromJson(state.recipe, ""));
  const std::string description =
      absl::StrCat(state.stage, " run ", fs::absolute(run_dir).string(), ", preset ", recipe.preset,
                   ", ", state.step, " of ", recipe.steps, " steps");
  if (state.stage == "stage1") {
    ASSIGN_OR_RETURN(models::ModelArchitecture arch, RecipeArchitecture(recipe));
    torch::manual_seed(recipe.seed);
    models::OneStepGenerator g = BuildGenerator(arch);
    const bool ema = fs::exists(dir + "/cave_ema.safetensors");
    RETURN_IF_ERROR(
        LoadModuleWeights(dir + (ema ? "/cave_ema.safetensors" : "/cave.safetensors"), *g->cave()));
    // Only CaVE is trained: the folder loads, but its generator is random.
    return WriteModelFolder(
        model_dir, *g,
        WithTrainedRange(ExportProvenance(false, description + (ema ? " (EMA weights)" : "") +
                                                     " (stage 1 only: generator "
                                                     "untrained)"),
                         recipe));
  }
  if (state.stage != "stage2") {
    return absl::InvalidArgumentError(absl::StrCat("unknown stage '", state.stage, "' in ", dir));
  }
  ASSIGN_OR_RETURN(Stage2Model model, BuildStage2Model(recipe));
  const bool ema = fs::exists(dir + "/ema.safetensors");
  RETURN_IF_ERROR(LoadNamedTensorsInto(dir + (ema ? "/ema.safetensors" : "/generator.safetensors"),
                                       model.generator_trainable));
  return WriteModelFolder(
      model_dir, *model.generator,
      WithTrainedRange(
          ExportProvenance(state.step > 0, description + (ema ? " (EMA weights)" : "")), recipe));
}

}  // namespace

absl::Status ExportRun(const std::string& run_dir, const std::string& model_dir) {
  absl::StatusOr<absl::Status> r =
      CatchTorchErrors("export", [&] { return ExportImpl(run_dir, model_dir); });
  return r.ok() ? *r : r.status();
}

}  // namespace codiff::training
