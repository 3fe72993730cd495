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
#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"
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

// Copies every parameter and buffer of `from` into `to`, a module of the
// same structure.
absl::Status CopyWeights(const torch::nn::Module& from, torch::nn::Module& to) {
  const NamedTensors named = StateDictOf(from);
  LoadOptions options;
  options.optional_suffixes.clear();  // the same structure holds everything
  ASSIGN_OR_RETURN(LoadReport report,
                   LoadStateDictStrict(to, TensorMap(named.begin(), named.end()), options));
  if (!report.unused.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(report.unused.size(), " tensors not used, e.g. ", report.unused[0]));
  }
  return absl::OkStatus();
}

// A stage-1 run that continued a model folder's CaVE ships with that
// folder's generator (projection, UNet, VAE) instead of a random one, when
// the generator was measured to add nothing. The folder's serving flags
// (default mode, inert perceptual) come along; they were measured with the
// old CaVE and must be measured again (codiff-train eval --modes
// perceptual,fidelity).
absl::StatusOr<ModelProvenance> TakeGeneratorFrom(const std::string& folder,
                                                  models::OneStepGeneratorImpl& g,
                                                  const std::string& description) {
  ModelLoadOptions load;
  load.merge_lora = false;  // the same module structure as g
  ASSIGN_OR_RETURN(LoadedModel donor, LoadModelFolder(folder, load));
  models::ModelArchitecture donor_arch = donor.generator->architecture();
  // Only the generator's architecture must match: CaVE is the run's (its
  // widths may have grown, training/weight_growth.h, and the QF estimate's
  // crop follows the run's training crops, RecipeArchitecture).
  donor_arch.cave = g.architecture().cave;
  if (models::ArchitectureToJson(donor_arch) != models::ArchitectureToJson(g.architecture())) {
    return absl::FailedPreconditionError(
        absl::StrCat(folder,
                     " has another architecture than the run (compare its model.yaml "
                     "with the run's preset)"));
  }
  RETURN_IF_ERROR(CopyWeights(*donor.generator->proj(), *g.proj()));
  RETURN_IF_ERROR(CopyWeights(*donor.generator->unet(), *g.unet()));
  RETURN_IF_ERROR(CopyWeights(*donor.generator->vae(), *g.vae()));
  ModelProvenance provenance = ExportProvenance(
      donor.provenance.trained, absl::StrCat(description, "; projection, UNet and VAE from ",
                                             folder, " (", donor.provenance.description, ")"));
  provenance.default_mode = donor.provenance.default_mode;
  provenance.perceptual_inert = donor.provenance.perceptual_inert;
  return provenance;
}

absl::Status ExportImpl(const std::string& run_dir, const std::string& model_dir,
                        const std::string& generator_from) {
  const std::string dir = CheckpointDir(run_dir);
  ASSIGN_OR_RETURN(CheckpointState state, ReadCheckpointState(dir));
  // Paths in a stored recipe were made absolute when it was first read.
  ASSIGN_OR_RETURN(Recipe recipe, RecipeFromJson(state.recipe, ""));
  const std::string description =
      absl::StrCat(state.stage, " run ", fs::absolute(run_dir).string(), ", preset ", recipe.preset,
                   ", ", state.step, " of ", recipe.steps, " steps");
  if (!generator_from.empty() && state.stage != "stage1") {
    return absl::InvalidArgumentError(
        absl::StrCat("--generator-from needs a stage-1 run; ", run_dir, " is ", state.stage));
  }
  if (state.stage == "stage1") {
    ASSIGN_OR_RETURN(models::ModelArchitecture arch, RecipeArchitecture(recipe));
    torch::manual_seed(recipe.seed);
    models::OneStepGenerator g = BuildGenerator(arch);
    const bool ema = fs::exists(dir + "/cave_ema.safetensors");
    RETURN_IF_ERROR(
        LoadModuleWeights(dir + (ema ? "/cave_ema.safetensors" : "/cave.safetensors"), *g->cave()));
    const std::string trained = description + (ema ? " (EMA weights)" : "");
    if (!generator_from.empty()) {
      ASSIGN_OR_RETURN(ModelProvenance provenance, TakeGeneratorFrom(generator_from, *g, trained));
      return WriteModelFolder(model_dir, *g, WithTrainedRange(provenance, recipe));
    }
    // Only CaVE is trained: the folder loads, but its generator is random.
    return WriteModelFolder(
        model_dir, *g,
        WithTrainedRange(ExportProvenance(false, trained + " (stage 1 only: generator untrained)"),
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

absl::Status ExportRun(const std::string& run_dir, const std::string& model_dir,
                       const std::string& generator_from) {
  absl::StatusOr<absl::Status> r =
      CatchTorchErrors("export", [&] { return ExportImpl(run_dir, model_dir, generator_from); });
  return r.ok() ? *r : r.status();
}

}  // namespace codiff::training
