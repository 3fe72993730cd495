// diffusers Downsample2D with a conv (key "conv").
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/lora_layers.h"

namespace codiff::models {

class Downsample2DImpl : public torch::nn::Module {
 public:
  // padding 1: the UNet's symmetric 3x3/s2 conv. padding 0: the VAE's, which
  // first zero-pads only right and bottom by one pixel.
  Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t padding_;
  LoraCompatibleConv2d conv_{nullptr};
};
TORCH_MODULE(Downsample2D);

}  // namespace codiff::models
