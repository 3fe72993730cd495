// One YAML recipe per run: everything that decides what a run computes, so a
// run directory plus its recipe is enough to reproduce or resume it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/models/model_architecture.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {

struct ValidationOptions {
  std::string dir;  // empty: no validation
  std::vector<int> qfs = {1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 98};
  int crop = 128;
  int max_images = 8;
  int every = 500;  // steps; 0 = only at the end
};

struct Stage1Options {
  std::string objective = "dual";  // dual | explicit | implicit
  // The restoration term: "l1" (the paper) or "mse" (what PSNR measures;
  // measured to learn several times faster in short CPU runs).
  std::string restoration_loss = "l1";
  double lr = 2e-5;
  double qf_weight = 1e-3;
  // Exponential moving average of CaVE's parameters and BatchNorm statistics;
  // when > 0 the average is what validation measures and what the run hands
  // to stage 2 and to export. 0 = the last step's weights.
  double ema_decay = 0.0;
  // Start from these CaVE weights instead of random ones (a model folder, a
  // stage-1 run directory or a cave.safetensors): training that continues
  // from a shipped model. Parameters the file lacks keep their fresh
  // initialisation only when they are the QF conditioning's (zero-initialised,
  // so the loaded model starts as the same function).
  std::string init_from;
  // init_from may be narrower or shallower than the recipe's CaVE: its
  // tensors fill the leading slices and the new channels start out unseen
  // by the old ones (GrowModuleWeights), so training starts from the same
  // outputs. Off: shapes must match exactly.
  bool init_grow = false;
  // "all", or "qf_head": only the QF head (module qf_pred) trains, the rest
  // of CaVE is frozen with its BatchNorm statistics, so the restoration is
  // unchanged. Re-fits the head after a continuation moved the encoder.
  std::string train_parts = "all";
};

struct Stage2Options {
  std::string cave;       // stage-1 output: a run dir, cave.safetensors or a model folder
  std::string base_unet;  // diffusers folder with SD weights (optional)
  std::string base_vae;   // diffusers folder (optional)
  double lr = 5e-5;
  double weight_decay = 1e-2;
  double grad_clip = 1.0;
  double mse_weight = 1.0;
  double perceptual_weight = 1.0;  // DISTS, or 1 - SSIM when DISTS is unavailable
  double gan_weight = 5e-3;
  // The generator's GAN term is off before this step (the discriminator
  // still trains): a from-scratch generator first learns to restore under
  // MSE instead of being pulled by a discriminator that wins from step 1.
  int64_t gan_start_step = 0;
  double disc_weight = 1e-2;
  double disc_lr = 5e-5;
  int disc_lora_rank = 0;  // > 0: the discriminator backbone is frozen, LoRA trained
  std::vector<std::string> dists_weights;  // VGG16 + DISTS alpha/beta files
  double ema_decay = 0.0;                  // 0 = no EMA
  bool train_vae_decoder = true;           // only without LoRA (small presets)
  int vae_pretrain_steps = 0;              // autoencoder warm-up before the GAN steps
  double vae_pretrain_lr = 1e-4;
};

struct Recipe {
  std::string stage;  // "stage1" | "stage2"
  std::string preset = "small";
  // Overrides the preset's cave.qf_conditioning (CaVEConfig): the restoring
  // decoder is conditioned on the JPEG quality. Kept in the recipe so every
  // stage and the export build the same architecture.
  bool cave_qf_conditioning = false;
  // Override the preset's CaVE level widths and blocks per stage (empty / 0:
  // the preset's). With stage1.init_grow a smaller checkpoint initialises
  // the larger network as the same function (training/weight_growth.h).
  std::vector<int64_t> cave_widths;
  int64_t cave_blocks = 0;
  uint64_t seed = 0;
  int threads = 2;  // LibTorch intra-op threads
  int batch = 4;
  int64_t steps = 1000;
  int checkpoint_every = 200;
  int log_every = 10;
  // Learning-rate schedule applied to every optimizer of the stage: the
  // stage's lr is the peak; "cosine" decays it to lr * lr_final_ratio by the
  // last step (short CPU runs gain most from the decay), after a linear
  // warm-up of warmup_steps.
  std::string lr_schedule = "constant";  // constant | cosine
  double lr_final_ratio = 0.1;
  int warmup_steps = 0;
  std::string output;  // run directory
  DataOptions data;
  ValidationOptions validation;
  Stage1Options stage1;
  Stage2Options stage2;
  nlohmann::json source;  // the recipe as read, stored in checkpoints
};

// Parses a recipe. Relative paths inside it are resolved against base_dir;
// ReadRecipe passes the working directory, so recipes can name
// ../shared/datasets/train when run from the repository root, and the
// command line can override data, validation and output paths.
absl::StatusOr<Recipe> RecipeFromJson(const nlohmann::json& json, const std::string& base_dir);
// A recipe file may describe several stages: shared keys at the top and
// per-stage overrides under `stages: {stage1: {...}, stage2: {...}}`.
// SelectStage merges the named stage's overrides over the shared keys (and
// returns a single-stage recipe unchanged).
absl::StatusOr<nlohmann::json> SelectStage(const nlohmann::json& recipe, const std::string& stage);
absl::StatusOr<Recipe> ReadRecipe(const std::string& path, const std::string& stage = "");

// The recipe's preset with its overrides applied: what every stage builds.
absl::StatusOr<models::ModelArchitecture> RecipeArchitecture(const Recipe& recipe);

// The multiplier of the peak learning rate at `step` (0-based) under the
// recipe's schedule.
double LearningRateFactor(const Recipe& recipe, int64_t step);

// The weight-average decay used after `step` (0-based): `decay`, warmed up as
// TensorFlow's ExponentialMovingAverage(num_updates) does, min(decay,
// (1 + step) / (10 + step)). A fixed 0.999 would still hold 37% of the initial
// weights after 1000 steps and 13% after 2000 (measured in stage 1 at step
// 2000: +0.18 dB at QF 20 on the validation crops, against +0.68 for the last
// weights); warmed up, the first steps fade as fast as they are left behind.
double EmaDecayAt(double decay, int64_t step);

}  // namespace codiff::training
