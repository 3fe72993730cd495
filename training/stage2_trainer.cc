// Stage 2: the one-step generator learns to restore, conditioned on the
// frozen stage-1 CaVE, under MSE + a structural/perceptual loss + a latent
// GAN (see ../docs/training.md).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/lora_injection.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "training/checkpoint.h"
#include "training/data/batch.h"
#include "training/learning_rate.h"
#include "training/run_log.h"
#include "training/stage1_validation.h"
#include "training/stage2_model.h"
#include "training/stage2_step.h"
#include "training/trainer.h"
#include "training/weight_average.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;

std::vector<torch::Tensor> Values(const NamedTensors& named) {
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

// Exponential moving average of the trained generator weights.
class Ema {
 public:
  Ema(const NamedTensors& params, double decay) : decay_(decay) {
    for (const auto& [name, t] : params) shadow_.emplace_back(name, t.detach().clone());
  }
  // After training step `step` (0-based).
  void Update(const NamedTensors& params, int64_t step) {
    BlendTensors(Values(shadow_), Values(params), EmaDecayAt(decay_, step));
  }
  const NamedTensors& shadow() const { return shadow_; }

 private:
  double decay_;
  NamedTensors shadow_;
};

nlohmann::json ValidateGenerator(models::OneStepGeneratorImpl& g, const ValidationSet& set) {
  torch::NoGradGuard no_grad;
  g.eval();
  nlohmann::json per_qf = nlohmann::json::object();
  double gain = 0.0;
  for (size_t i = 0; i < set.qfs.size(); ++i) {
    const Batch& b = set.per_qf[i];
    const models::Conditioning cond = g.Condition(b.lq);
    const torch::Tensor out = (g.Generate(cond.image, cond.context) + 1.0) / 2.0;
    const double psnr = MeanPsnrY(b.hq, out), psnr_jpeg = MeanPsnrY(b.hq, b.lq);
    gain += psnr - psnr_jpeg;
    nlohmann::json row = {{"psnr", psnr},
                          {"psnr_jpeg", psnr_jpeg},
                          {"ssim", MeanSsimY(b.hq, out)},
                          {"ssim_jpeg", MeanSsimY(b.hq, b.lq)}};
    // What the generator itself adds: its input is CaVE's restoration here.
    if (g.architecture().refine_restoration)
      row["psnr_generator_input"] = MeanPsnrY(b.hq, cond.image);
    per_qf[std::to_string(set.qfs[i])] = row;
  }
  return {{"per_qf", per_qf}, {"psnr_gain", set.qfs.empty() ? 0.0 : gain / set.qfs.size()}};
}

absl::StatusOr<RunResult> Stage2Impl(const Recipe& recipe, const RunOptions& options) {
  torch::set_num_threads(recipe.threads);
  const Stage2Options& o = recipe.stage2;
  ASSIGN_OR_RETURN(Stage2Model model, BuildStage2Model(recipe));
  models::OneStepGeneratorImpl& g = *model.generator;

  auto adamw = [](const NamedTensors& params, double lr, double wd) {
    return torch::optim::AdamW(Values(params), torch::optim::AdamWOptions(lr).weight_decay(wd));
  };
  torch::optim::AdamW gen_opt = adamw(model.generator_trainable, o.lr, o.weight_decay);
  torch::optim::AdamW disc_opt = adamw(model.discriminator_trainable, o.disc_lr, o.weight_decay);
  // Optional autoencoder warm-up of the VAE (presets without pretrained VAE).
  // Not for a residual generator: its decoder predicts a correction, not an image.
  const bool pretrain_vae = o.vae_pretrain_steps > 0 && g.architecture().vae_lora.rank == 0 &&
                            !g.architecture().residual_output;
  std::vector<torch::Tensor> vae_params = g.vae()->parameters();
  torch::optim::Adam vae_opt(vae_params, torch::optim::AdamOptions(o.vae_pretrain_lr));
  std::optional<Ema> ema;
  if (o.ema_decay > 0) ema.emplace(model.generator_trainable, o.ema_decay);

  RunResult result;
  if (options.resume) {
    const std::string dir = CheckpointDir(recipe.output);
    ASSIGN_OR_RETURN(CheckpointState state, ReadCheckpointState(dir));
    if (state.stage != "stage2") {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " holds a ", state.stage, " checkpoint, not stage2"));
    }
    RETURN_IF_ERROR(
        LoadNamedTensorsInto(dir + "/generator.safetensors", model.generator_trainable));
    RETURN_IF_ERROR(
        LoadNamedTensorsInto(dir + "/discriminator.safetensors", model.discriminator_trainable));
    RETURN_IF_ERROR(LoadOptimizerState(dir + "/generator_optimizer.pt", gen_opt));
    RETURN_IF_ERROR(LoadOptimizerState(dir + "/discriminator_optimizer.pt", disc_opt));
    if (pretrain_vae) RETURN_IF_ERROR(LoadOptimizerState(dir + "/vae_optimizer.pt", vae_opt));
    if (ema) RETURN_IF_ERROR(LoadNamedTensorsInto(dir + "/ema.safetensors", ema->shadow()));
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

  // DISTS needs ImageNet VGG16 weights plus DISTS's alpha/beta; this build
  // has no DISTS network yet, so the structural loss stands in whether or not
  // files are named (said loudly, since it changes what is optimised).
  std::string perceptual = "1 - SSIM (weight-free stand-in for DISTS)";
  if (o.dists_weights.empty()) {
    perceptual += ": no DISTS weights named in the recipe (stage2.dists_weights)";
  } else {
    perceptual += ": DISTS weight files are named but DISTS is not implemented in this build";
  }
  int64_t n_gen = 0, n_disc = 0;
  for (const auto& [name, t] : model.generator_trainable) n_gen += t.numel();
  for (const auto& [name, t] : model.discriminator_trainable) n_disc += t.numel();
  log.Event("start", {{"stage", "stage2"},
                      {"first_step", result.first_step},
                      {"perceptual_loss", perceptual},
                      {"generator_trainable", n_gen},
                      {"discriminator_trainable", n_disc},
                      {"notes", model.notes}});
  if (!options.quiet) {
    std::fprintf(
        stderr, "stage2: %s preset, %lld generator / %lld discriminator parameters trained\n",
        recipe.preset.c_str(), static_cast<long long>(n_gen), static_cast<long long>(n_disc));
    std::fprintf(stderr, "stage2: perceptual loss = %s\n", perceptual.c_str());
    for (const auto& note : model.notes) std::fprintf(stderr, "stage2: %s\n", note.c_str());
  }

  auto save = [&](int64_t step) -> absl::Status {
    const std::string staging = StagingDir(recipe.output);
    fs::remove_all(staging);
    fs::create_directories(staging);
    RETURN_IF_ERROR(
        SaveNamedTensors(staging + "/generator.safetensors", model.generator_trainable));
    RETURN_IF_ERROR(
        SaveNamedTensors(staging + "/discriminator.safetensors", model.discriminator_trainable));
    RETURN_IF_ERROR(SaveOptimizerState(staging + "/generator_optimizer.pt", gen_opt));
    RETURN_IF_ERROR(SaveOptimizerState(staging + "/discriminator_optimizer.pt", disc_opt));
    if (pretrain_vae) RETURN_IF_ERROR(SaveOptimizerState(staging + "/vae_optimizer.pt", vae_opt));
    if (ema) RETURN_IF_ERROR(SaveNamedTensors(staging + "/ema.safetensors", ema->shadow()));
    RETURN_IF_ERROR(WriteCheckpointState(staging, {"stage2", step, recipe.source, {}}));
    RETURN_IF_ERROR(CommitCheckpoint(recipe.output));
    log.Event("checkpoint", {{"step", step}});
    return absl::OkStatus();
  };
  auto validate = [&](int64_t step) {
    if (!validation) return;
    result.validation = ValidateGenerator(g, *validation);
    result.validation["step"] = step;
    log.Event("validation", result.validation);
    if (!options.quiet) {
      std::fprintf(stderr, "validation @%lld: %s\n", static_cast<long long>(step),
                   result.validation.dump().c_str());
    }
    SetStage2TrainModes(model);
  };

  BatchLoader loader(*dataset, recipe.batch, result.first_step);
  SetStage2TrainModes(model);
  int64_t step = result.first_step;
  for (; step < recipe.steps; ++step) {
    if (options.stop_after >= 0 && step >= options.stop_after) break;
    ASSIGN_OR_RETURN(Batch batch, loader.Next());
    const torch::Tensor hq_pm = batch.hq * 2.0 - 1.0;
    const double lr_factor = LearningRateFactor(recipe, step);
    SetLearningRate(gen_opt, o.lr * lr_factor);
    SetLearningRate(disc_opt, o.disc_lr * lr_factor);
    SetLearningRate(vae_opt, o.vae_pretrain_lr * lr_factor);

    if (pretrain_vae && step < o.vae_pretrain_steps) {
      // Autoencoder warm-up: the VAE learns to reproduce HQ images first.
      const torch::Tensor recon = g.vae()->Decode(g.vae()->Encode(hq_pm).mean());
      const torch::Tensor loss = torch::mse_loss(recon, hq_pm);
      vae_opt.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(vae_params, o.grad_clip);
      vae_opt.step();
      const double total = loss.item<double>();
      result.total_losses.push_back(total);
      log.Step(step, {{"loss", total}, {"vae_mse", total}}, options.quiet ? 0 : recipe.log_every);
    } else {
      Stage2Options step_options = o;
      if (step < o.gan_start_step) step_options.gan_weight = 0.0;
      const auto losses = Stage2Step(model, gen_opt, disc_opt, batch, step_options);
      const double total = losses.at("loss");
      if (!std::isfinite(total)) {
        return absl::InternalError(absl::StrCat("stage2: loss is not finite at step ", step));
      }
      if (ema) ema->Update(model.generator_trainable, step);
      result.total_losses.push_back(total);
      log.Step(step, losses, options.quiet ? 0 : recipe.log_every);
    }
    const int64_t done = step + 1;
    if (recipe.checkpoint_every > 0 && done % recipe.checkpoint_every == 0) {
      RETURN_IF_ERROR(save(done));
    }
    if (recipe.validation.every > 0 && done % recipe.validation.every == 0) validate(done);
  }
  result.last_step = step;
  RETURN_IF_ERROR(save(step));
  if (step >= recipe.steps &&
      (recipe.validation.every <= 0 || step % recipe.validation.every != 0)) {
    validate(step);
  }
  return result;
}

}  // namespace

absl::StatusOr<RunResult> RunStage2(const Recipe& recipe, const RunOptions& options) {
  absl::StatusOr<absl::StatusOr<RunResult>> r =
      CatchTorchErrors("stage2", [&] { return Stage2Impl(recipe, options); });
  if (!r.ok()) return r.status();
  return *std::move(r);
}

}  // namespace codiff::training
