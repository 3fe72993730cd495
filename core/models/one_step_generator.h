// CODiff's one-step generator: CaVE tokens -> projection -> UNet at T_L ->
// x0 by Eq. (1) -> VAE decode. Submodules "cave", "proj", "unet", "vae".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "core/models/autoencoder_kl.h"
#include "core/models/cave.h"
#include "core/models/ddpm_schedule.h"
#include "core/models/model_architecture.h"
#include "core/models/trace.h"
#include "core/models/unet_2d_condition.h"

namespace codiff::models {

struct GenerateOptions {
  // The reference samples the VAE posterior without a seed, which makes its
  // output noisy and irreproducible; we use the posterior mean unless seeds
  // are given: empty, or one per batch item (none = that item's mean), each
  // item's noise from its own seed (DiagonalGaussian::SamplePerItem).
  std::vector<std::optional<uint64_t>> posterior_seeds;
};

// Wall seconds per stage, accumulated over calls (for the demo's breakdown,
// the server's metrics and log lines). On a GPU the stages are timed
// without synchronising, so there they are only indicative.
struct StageSeconds {
  double cave = 0;        // CaVE encoder (tokens + QF head; restoration in fidelity mode)
  double projection = 0;  // tokens -> cross-attention context
  double vae_encode = 0;
  double unet = 0;
  double vae_decode = 0;
  double color_fix = 0;        // filled by the pipeline
  double jpeg_projection = 0;  // filled by the pipeline
  int64_t cave_passes = 0;     // CaVE encoder runs (a count, not seconds)
  double Total() const {
    return cave + projection + vae_encode + unet + vae_decode + color_fix + jpeg_projection;
  }
  StageSeconds& operator+=(const StageSeconds& other);
};

// Adds the wall time of its scope to *slot (no-op for a null slot):
// `StageTimer timer(&seconds.unet);`.
//
// On a machine with CUDA a stage's time needs a device synchronisation before
// and after it, which stalls the launch queue between stages; the timers then
// record only when SetStageTimingOnCuda(true) (codiff-model demo, profiling),
// and are no-ops otherwise.
void SetStageTimingOnCuda(bool enabled);
bool StageTimingOnCuda();

class StageTimer {
 public:
  explicit StageTimer(double* slot);
  ~StageTimer();
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  double* slot_;
  std::chrono::steady_clock::time_point start_;
};

struct Conditioning {
  torch::Tensor tokens;   // [B, K, C_cave]: CaVE's visual embedding (before the projection)
  torch::Tensor context;  // [B, K, cross_attention_dim]: the UNet's encoder_hidden_states
  torch::Tensor qf;       // [B, 1] QF-head sigmoid output (QF = 100 * (1 - qf))
  // What Generate restores: the input, or CaVE's restoration of it (clamped
  // to [0, 1]) when the architecture has refine_restoration.
  torch::Tensor image;
};

class OneStepGeneratorImpl : public torch::nn::Module {
 public:
  explicit OneStepGeneratorImpl(const ModelArchitecture& arch);

  // x: [B, 3, H, W] RGB in [0, 1]. One CaVE encoder pass gives the projected
  // context and the QF estimate (and, with refine_restoration, CaVE's
  // restored image).
  Conditioning Condition(const torch::Tensor& x, StageSeconds* seconds = nullptr);

  // Restores x (RGB in [0, 1], H and W multiples of 8) under a given context,
  // so tiles of one image can share the whole image's conditioning. Returns
  // RGB in [-1, 1], clamped. Trace names: emb/ctx are the caller's; z_L, eps,
  // z_H, out here.
  torch::Tensor Generate(const torch::Tensor& x, const torch::Tensor& context,
                         const GenerateOptions& options = {}, Trace* trace = nullptr,
                         StageSeconds* seconds = nullptr);

  // Generate's stages, for callers that tile them differently (the
  // reference's latent tiling runs the UNet per latent tile under one
  // whole-image context). x in [0, 1]; the latent is scaled (z_L).
  torch::Tensor EncodeLatent(const torch::Tensor& x, const GenerateOptions& options = {});
  // The UNet at T_L on a scaled latent: the noise (or, with latent_residual,
  // the correction) prediction.
  torch::Tensor PredictNoise(const torch::Tensor& z_low, const torch::Tensor& context);

  // The image from a predicted latent z_H (scaled): VAE-decoded, plus the
  // input when the architecture has residual_output; clamped to [-1, 1].
  // x is the generator's input in [0, 1].
  torch::Tensor DecodeImage(const torch::Tensor& z_high, const torch::Tensor& x);

  // z_H from the input's latent z_L and the UNet's output: the DDPM x0
  // prediction at T_L, or z_L + output when the architecture has
  // latent_residual.
  torch::Tensor HighQualityLatent(const torch::Tensor& z_low, const torch::Tensor& unet_out) const;

  // Condition + Generate on the same input (Generate on Conditioning::image).
  torch::Tensor forward(const torch::Tensor& x, const GenerateOptions& options = {},
                        Trace* trace = nullptr);

  const ModelArchitecture& architecture() const { return arch_; }
  CaVE& cave() { return cave_; }
  torch::nn::Linear& proj() { return proj_; }
  UNet2DConditionModel& unet() { return unet_; }
  AutoencoderKL& vae() { return vae_; }
  const DdpmSchedule& schedule() const { return schedule_; }

 private:
  ModelArchitecture arch_;
  DdpmSchedule schedule_;
  CaVE cave_{nullptr};
  torch::nn::Linear proj_{nullptr};
  UNet2DConditionModel unet_{nullptr};
  AutoencoderKL vae_{nullptr};
};
TORCH_MODULE(OneStepGenerator);

}  // namespace codiff::models
