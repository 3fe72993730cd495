// diffusers UpDecoderBlock2D (VAE decoder): resnets without time embedding or
// skips, then an optional nearest-2x upsampler.
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/resnet_block_2d.h"
#include "core/models/upsample_2d.h"

namespace codiff::models {

struct UpDecoderBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t num_layers = 3;
  int64_t groups = 32;
  double eps = 1e-6;
  bool add_upsample = true;
};

class UpDecoderBlock2DImpl : public torch::nn::Module {
 public:
  explicit UpDecoderBlock2DImpl(const UpDecoderBlock2DOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<ResnetBlock2D> resnet_list_;
  Upsample2D upsampler_{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

}  // namespace codiff::models
