#include "core/models/embeddings.h"

#include <cmath>

#include <torch/torch.h>

namespace codiff::models {

torch::Tensor TimestepProjection(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                 double freq_shift, double max_period) {
  TORCH_CHECK(timesteps.dim() == 1, "TimestepProjection expects [B] timesteps, got ",
              timesteps.sizes());
  const int64_t half = dim / 2;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device());
  // Same operation order as diffusers (arange * -log(P), then / (half - shift))
  // so the float32 frequencies round identically.
  torch::Tensor exponent = torch::arange(0, half, f32) * (-std::log(max_period));
  exponent = exponent / (static_cast<double>(half) - freq_shift);
  const torch::Tensor args =
      timesteps.to(torch::kFloat32).unsqueeze(1) * torch::exp(exponent).unsqueeze(0);
  torch::Tensor emb = flip_sin_to_cos ? torch::cat({torch::cos(args), torch::sin(args)}, -1)
                                      : torch::cat({torch::sin(args), torch::cos(args)}, -1);
  if (dim % 2 == 1)
    emb = torch::nn::functional::pad(emb, torch::nn::functional::PadFuncOptions({0, 1}));
  return emb;
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim) {
  linear_1_ = register_module("linear_1", torch::nn::Linear(in_channels, time_embed_dim));
  // "act" (SiLU) sits here in diffusers; it has no weights.
  linear_2_ = register_module("linear_2", torch::nn::Linear(time_embed_dim, time_embed_dim));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& sample) {
  return linear_2_(torch::silu(linear_1_(sample)));
}

}  // namespace codiff::models
