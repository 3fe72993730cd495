// diffusers Upsample2D: nearest-neighbour 2x (or to an explicit size), then a
// 3x3 conv (key "conv").
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/lora_layers.h"

namespace codiff::models {

class Upsample2DImpl : public torch::nn::Module {
 public:
  Upsample2DImpl(int64_t channels, int64_t out_channels);
  // output_size {H, W}: used by the UNet when the input is not a multiple of
  // its total downsampling factor; empty means exactly 2x.
  torch::Tensor forward(const torch::Tensor& x, const std::vector<int64_t>& output_size = {});

 private:
  LoraCompatibleConv2d conv_{nullptr};
};
TORCH_MODULE(Upsample2D);

}  // namespace codiff::models
