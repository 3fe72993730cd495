// The VAE posterior N(mean, exp(logvar)) (diffusers DiagonalGaussianDistribution).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace codiff::models {

class DiagonalGaussian {
 public:
  // moments [B, 2C, H, W]: mean in the first C channels, logvar in the rest.
  // logvar is clamped to [-30, 20] as in diffusers.
  explicit DiagonalGaussian(const torch::Tensor& moments);

  const torch::Tensor& mean() const { return mean_; }
  const torch::Tensor& logvar() const { return logvar_; }
  const torch::Tensor& std() const { return std_; }
  torch::Tensor var() const;
  // The distribution's mode (= mean); what CODiff uses for deterministic runs.
  const torch::Tensor& mode() const { return mean_; }

  // mean + std * noise, noise shaped like mean.
  torch::Tensor Sample(const torch::Tensor& noise) const;
  // Draws the noise with `generator` on the generator's device, then moves it
  // to the mean's device and dtype.
  torch::Tensor Sample(at::Generator generator) const;
  // One seed per batch item (none = the mean for that item), each drawn on a
  // CPU generator so a seed gives the same latent on every device: item i's
  // noise comes from its own seed alone, so batching never changes a result.
  torch::Tensor SamplePerItem(const std::vector<std::optional<uint64_t>>& seeds) const;

 private:
  torch::Tensor mean_;
  torch::Tensor logvar_;
  torch::Tensor std_;
};

}  // namespace codiff::models
