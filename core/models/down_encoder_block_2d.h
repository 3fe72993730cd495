// diffusers DownEncoderBlock2D (VAE encoder): resnets without time embedding,
// then an optional right/bottom-padded stride-2 conv.
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/downsample_2d.h"
#include "core/models/resnet_block_2d.h"

namespace codiff::models {

struct DownEncoderBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t num_layers = 2;
  int64_t groups = 32;
  double eps = 1e-6;
  bool add_downsample = true;
  int64_t downsample_padding = 0;
};

class DownEncoderBlock2DImpl : public torch::nn::Module {
 public:
  explicit DownEncoderBlock2DImpl(const DownEncoderBlock2DOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<ResnetBlock2D> resnet_list_;
  Downsample2D downsampler_{nullptr};
};
TORCH_MODULE(DownEncoderBlock2D);

}  // namespace codiff::models
