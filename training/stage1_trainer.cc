// Stage 1: CaVE learns to restore JPEG crops (implicit learning) and to
// predict their quality factor (explicit learning); "dual" does both.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/metrics/quality_metrics.h"
#include "core/models/cave.h"
#include "core/models/model_architecture.h"
#include "core/util/channels_last.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "training/checkpoint.h"
#include "training/data/batch.h"
#include "training/learning_rate.h"
#include "training/losses.h"
#include "training/run_log.h"
#include "training/stage1_validation.h"
#include "training/stage2_model.h"
#include "training/trainer.h"
#include "training/weight_average.h"
#include "training/weight_growth.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;

// The average keeps BatchNorm's running statistics too: they must match the
// averaged weights.
void BlendInto(torch::nn::Module& into, const torch::nn::Module& from, double decay) {
  BlendTensors(into.parameters(), from.parameters(), decay);
  BlendTensors(into.buffers(), from.buffers(), decay);
}

absl::StatusOr<RunResult> Stage1Impl(const Recipe& recipe, const RunOptions& options) {
  torch::set_num_threads(recipe.threads);
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, RecipeArchitecture(recipe));
  torch::manual_seed(recipe.seed);
  models::CaVE cave(arch.cave);
  const bool head_only = recipe.stage1.train_parts == "qf_head";
  const std::shared_ptr<torch::nn::Module> qf_head = cave->named_children()["qf_pred"];
  if (head_only) {
    for (auto& p : cave->parameters()) p.set_requires_grad(false);
    for (auto& p : qf_head->parameters()) p.set_requires_grad(true);
  }
  torch::optim::Adam optimizer(head_only ? qf_head->parameters() : cave->parameters(),
                               torch::optim::AdamOptions(recipe.stage1.lr));
  // BatchNorm learns its statistics in stage 1, except in the frozen part.
  auto train_mode = [&] {
    cave->train(!head_only);
    if (head_only) qf_head->train();
  };
  const double ema_decay = recipe.stage1.ema_decay;
  std::optional<models::CaVE> ema;
  if (ema_decay > 0) {
    ema.emplace(arch.cave);
    BlendInto(**ema, *cave, 0.0);
  }
  // The weights that are validated and handed on: the average when kept.
  auto shipped = [&]() -> models::CaVEImpl& { return ema ? **ema : *cave; };

  RunResult result;
  if (!recipe.stage1.init_from.empty() && !options.resume) {
    ASSIGN_OR_RETURN(std::string file, ResolveCaveFile(recipe.stage1.init_from));
    if (recipe.stage1.init_grow) {
      RETURN_IF_ERROR(GrowModuleWeights(file, *cave, "qf_embed."));
    } else {
      RETURN_IF_ERROR(LoadModuleWeights(file, *cave, "qf_embed."));
    }
    if (ema) BlendInto(**ema, *cave, 0.0);
    if (!options.quiet) std::fprintf(stderr, "stage1: CaVE initialised from %s\n", file.c_str());
  }
  if (options.resume) {
    const std::string dir = CheckpointDir(recipe.output);
    ASSIGN_OR_RETURN(CheckpointState state, ReadCheckpointState(dir));
    if (state.stage != "stage1") {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " holds a ", state.stage, " checkpoint, not stage1"));
    }
    RETURN_IF_ERROR(LoadModuleWeights(dir + "/cave.safetensors", *cave));
    RETURN_IF_ERROR(LoadOptimizerState(dir + "/optimizer.pt", optimizer));
    if (ema) {
      // A run that started without an average starts one from its weights.
      if (fs::exists(dir + "/cave_ema.safetensors")) {
        RETURN_IF_ERROR(LoadModuleWeights(dir + "/cave_ema.safetensors", **ema));
      } else {
        BlendInto(**ema, *cave, 0.0);
      }
    }
    result.first_step = state.step;
  }

  ASSIGN_OR_RETURN(auto dataset, PairDataset::Open(recipe.data));
  std::optional<ValidationSet> validation;
  if (!recipe.validation.dir.empty()) {
    ASSIGN_OR_RETURN(validation,
                     LoadValidationSet(recipe.validation.dir, recipe.validation.qfs,
                                       recipe.validation.crop, recipe.validation.max_images));
  }
  RunLog log(recipe.output, result.first_step, recipe.steps, recipe.batch);
  log.Event("start", {{"stage", "stage1"},
                      {"first_step", result.first_step},
                      {"objective", recipe.stage1.objective},
                      {"sources", dataset->num_sources()}});
  if (!options.quiet) {
    std::fprintf(stderr, "stage1: %s preset, objective %s, %zu source images, steps %lld..%lld\n",
                 recipe.preset.c_str(), recipe.stage1.objective.c_str(), dataset->num_sources(),
                 static_cast<long long>(result.first_step), static_cast<long long>(recipe.steps));
  }

  auto save = [&](int64_t step) -> absl::Status {
    const std::string staging = StagingDir(recipe.output);
    fs::remove_all(staging);
    fs::create_directories(staging);
    RETURN_IF_ERROR(SaveModuleWeights(staging + "/cave.safetensors", *cave));
    RETURN_IF_ERROR(SaveOptimizerState(staging + "/optimizer.pt", optimizer));
    if (ema) RETURN_IF_ERROR(SaveModuleWeights(staging + "/cave_ema.safetensors", **ema));
    RETURN_IF_ERROR(WriteCheckpointState(staging, {"stage1", step, recipe.source, {}}));
    RETURN_IF_ERROR(CommitCheckpoint(recipe.output));
    log.Event("checkpoint", {{"step", step}});
    return absl::OkStatus();
  };
  auto validate = [&](int64_t step) {
    if (!validation) return;
    result.validation = ValidateCave(shipped(), *validation);
    result.validation["step"] = step;
    log.Event("validation", result.validation);
    if (ema) {
      // The last step's weights too, so a log shows what the average adds.
      nlohmann::json raw = ValidateCave(*cave, *validation);
      raw["step"] = step;
      log.Event("validation_last_weights", raw);
    }
    if (!options.quiet) {
      std::fprintf(stderr, "validation @%lld: %s\n", static_cast<long long>(step),
                   result.validation.dump().c_str());
    }
    train_mode();
    if (ema) (*ema)->train();
  };

  // Measured on 2 cores (small preset, batch 8 at 128 px): 0.525 -> 0.453 s
  // per step.
  MakeConvWeightsChannelsLast(*cave);
  BatchLoader loader(*dataset, recipe.batch, result.first_step);
  train_mode();
  int64_t step = result.first_step;
  for (; step < recipe.steps; ++step) {
    if (options.stop_after >= 0 && step >= options.stop_after) break;
    ASSIGN_OR_RETURN(Batch batch, loader.Next());
    SetLearningRate(optimizer, recipe.stage1.lr * LearningRateFactor(recipe, step));
    // A conditioned decoder (cave.qf_conditioning) is told the true quality,
    // as a caller that reads it from the JPEG header would tell it.
    auto [restored, qf_pred] = cave->forward(batch.lq.contiguous(torch::MemoryFormat::ChannelsLast),
                                             nullptr, QualityTarget(batch.qf).reshape({-1, 1}));
    Stage1Losses losses = Stage1Loss(recipe.stage1.objective, restored, batch.hq, qf_pred, batch.qf,
                                     recipe.stage1.qf_weight, recipe.stage1.restoration_loss);
    optimizer.zero_grad();
    losses.total.backward();
    optimizer.step();
    if (ema) BlendInto(**ema, *cave, EmaDecayAt(ema_decay, step));
    const double total = losses.total.item<double>();
    if (!std::isfinite(total)) {
      return absl::InternalError(absl::StrCat("stage1: loss is not finite at step ", step));
    }
    result.total_losses.push_back(total);
    log.Step(step,
             {{"loss", total},
              {"lr", recipe.stage1.lr * LearningRateFactor(recipe, step)},
              {"restoration", losses.restoration.item<double>()},
              {"l1_qf", losses.quality.item<double>()}},
             options.quiet ? 0 : recipe.log_every);
    const int64_t done = step + 1;
    if (recipe.checkpoint_every > 0 && done % recipe.checkpoint_every == 0) {
      RETURN_IF_ERROR(save(done));
    }
    if (recipe.validation.every > 0 && done % recipe.validation.every == 0) validate(done);
  }
  result.last_step = step;
  RETURN_IF_ERROR(save(step));
  if (step >= recipe.steps) {
    if (recipe.validation.every <= 0 || step % recipe.validation.every != 0) validate(step);
    // The stage-2 input: run_dir/cave.safetensors.
    RETURN_IF_ERROR(SaveModuleWeights(recipe.output + "/cave.safetensors", shipped()));
  }
  return result;
}

}  // namespace

absl::StatusOr<RunResult> RunStage1(const Recipe& recipe, const RunOptions& options) {
  absl::StatusOr<absl::StatusOr<RunResult>> r =
      CatchTorchErrors("stage1", [&] { return Stage1Impl(recipe, options); });
  if (!r.ok()) return r.status();
  return *std::move(r);
}

}  // namespace codiff::training
