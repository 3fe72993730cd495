// The DDPM noise schedule of Stable Diffusion 2.x ("scaled_linear" betas),
// computed in code exactly as diffusers does, in float32.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace codiff::models {

struct DdpmScheduleConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.00085;
  double beta_end = 0.012;
};

class DdpmSchedule {
 public:
  explicit DdpmSchedule(const DdpmScheduleConfig& config = {});

  // [T] float32 tensors on the CPU.
  const torch::Tensor& betas() const { return betas_; }
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  float AlphaBar(int64_t t) const;
  float SqrtAlphaBar(int64_t t) const;
  float SqrtOneMinusAlphaBar(int64_t t) const;

  // Eq. (1) of the paper, the one-step estimate of the clean latent:
  // x0 = (z_t - sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_bar_t).
  // No clamping: the SD scheduler config has clip_sample off.
  torch::Tensor PredictOriginal(const torch::Tensor& noisy, const torch::Tensor& eps,
                                int64_t t) const;

 private:
  torch::Tensor betas_;
  torch::Tensor alphas_cumprod_;
};

}  // namespace codiff::models
