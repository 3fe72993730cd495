#include "core/models/ddpm_schedule.h"

#include <cmath>

#include <torch/torch.h>

namespace codiff::models {

DdpmSchedule::DdpmSchedule(const DdpmScheduleConfig& config) {
  // diffusers: linspace(sqrt(start), sqrt(end), T, float32) ** 2, then a
  // float32 cumprod; doing it in float64 would differ in the last bits.
  torch::Tensor sqrt_betas =
      torch::linspace(std::sqrt(config.beta_start), std::sqrt(config.beta_end),
                      config.num_train_timesteps, torch::TensorOptions().dtype(torch::kFloat32));
  betas_ = sqrt_betas * sqrt_betas;
  alphas_cumprod_ = torch::cumprod(1.0f - betas_, /*dim=*/0);
}

float DdpmSchedule::AlphaBar(int64_t t) const { return alphas_cumprod_[t].item<float>(); }

float DdpmSchedule::SqrtAlphaBar(int64_t t) const {
  return alphas_cumprod_[t].sqrt().item<float>();
}

float DdpmSchedule::SqrtOneMinusAlphaBar(int64_t t) const {
  return (1.0f - alphas_cumprod_[t]).sqrt().item<float>();
}

torch::Tensor DdpmSchedule::PredictOriginal(const torch::Tensor& noisy, const torch::Tensor& eps,
                                            int64_t t) const {
  return (noisy - SqrtOneMinusAlphaBar(t) * eps) / SqrtAlphaBar(t);
}

}  // namespace codiff::models
