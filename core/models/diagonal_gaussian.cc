#include "core/models/diagonal_gaussian.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace codiff::models {

DiagonalGaussian::DiagonalGaussian(const torch::Tensor& moments) {
  TORCH_CHECK(moments.dim() >= 2 && moments.size(1) % 2 == 0,
              "DiagonalGaussian: moments need an even channel count, got ", moments.sizes());
  const auto halves = moments.chunk(2, 1);
  mean_ = halves[0];
  logvar_ = torch::clamp(halves[1], -30.0, 20.0);
  std_ = torch::exp(0.5 * logvar_);
}

torch::Tensor DiagonalGaussian::var() const { return torch::exp(logvar_); }

torch::Tensor DiagonalGaussian::Sample(const torch::Tensor& noise) const {
  TORCH_CHECK(noise.sizes() == mean_.sizes(), "DiagonalGaussian: noise shape ", noise.sizes(),
              " does not match the mean's ", mean_.sizes());
  return mean_ + std_ * noise.to(mean_.options());
}

torch::Tensor DiagonalGaussian::Sample(at::Generator generator) const {
  const torch::Tensor noise =
      torch::randn(mean_.sizes(), generator,
                   torch::TensorOptions().dtype(torch::kFloat32).device(generator.device()));
  return Sample(noise.to(mean_.device()));
}

torch::Tensor DiagonalGaussian::SamplePerItem(
    const std::vector<std::optional<uint64_t>>& seeds) const {
  TORCH_CHECK(static_cast<int64_t>(seeds.size()) == mean_.size(0),
              "DiagonalGaussian: ", seeds.size(), " seeds for a batch of ", mean_.size(0));
  std::vector<int64_t> one_shape = mean_.sizes().vec();
  one_shape[0] = 1;
  std::vector<torch::Tensor> noise;
  noise.reserve(seeds.size());
  for (const auto& seed : seeds) {
    if (seed) {
      at::Generator generator = at::detail::createCPUGenerator(*seed);
      noise.push_back(torch::randn(one_shape, generator, torch::kFloat32));
    } else {
      noise.push_back(torch::zeros(one_shape, torch::kFloat32));
    }
  }
  return Sample(torch::cat(noise));
}

}  // namespace codiff::models
