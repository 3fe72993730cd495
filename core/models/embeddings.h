// Timestep embeddings of the SD UNet (diffusers Timesteps + TimestepEmbedding).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace codiff::models {

// Sinusoidal projection of float timesteps [B] to [B, dim] (float32, on the
// timesteps' device). With flip_sin_to_cos the cosine half comes first.
torch::Tensor TimestepProjection(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                 double freq_shift, double max_period = 10000.0);

// linear_1 -> SiLU -> linear_2. Plain Linear layers: the time path is not a
// LoRA target.
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim);
  torch::Tensor forward(const torch::Tensor& sample);

 private:
  torch::nn::Linear linear_1_{nullptr};
  torch::nn::Linear linear_2_{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

}  // namespace codiff::models
