// diffusers ResnetBlock2D ("default" time scale shift), shared by UNet and VAE.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/lora_layers.h"

namespace codiff::models {

struct ResnetBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  // 0: no time embedding (the VAE); otherwise the width of the shared temb.
  int64_t temb_channels = 0;
  int64_t groups = 32;
  double eps = 1e-6;
  double output_scale_factor = 1.0;
};

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  explicit ResnetBlock2DImpl(const ResnetBlock2DOptions& options);
  // `temb` is the shared time embedding before SiLU; undefined when the block
  // has no time embedding.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb = {});

 private:
  ResnetBlock2DOptions options_;
  torch::nn::GroupNorm norm1_{nullptr};
  LoraCompatibleConv2d conv1_{nullptr};
  torch::nn::Linear time_emb_proj_{nullptr};
  torch::nn::GroupNorm norm2_{nullptr};
  LoraCompatibleConv2d conv2_{nullptr};
  LoraCompatibleConv2d conv_shortcut_{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

}  // namespace codiff::models
