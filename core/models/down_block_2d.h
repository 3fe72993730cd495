// diffusers DownBlock2D: resnets with a time embedding, optional downsampler.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/downsample_2d.h"
#include "core/models/resnet_block_2d.h"
#include "core/models/trace.h"

namespace codiff::models {

// What a UNet down block hands on: its output and the skip tensors (one per
// resnet, plus the downsampler output), in order.
struct DownBlockOutput {
  torch::Tensor hidden;
  std::vector<torch::Tensor> skips;
};

struct DownBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t temb_channels = 0;
  int64_t num_layers = 2;
  int64_t groups = 32;
  double eps = 1e-5;
  bool add_downsample = true;
  int64_t downsample_padding = 1;
  // Cross-attention blocks only:
  int64_t heads = 1;
  int64_t transformer_layers = 1;
  int64_t cross_attention_dim = 0;
};

class DownBlock2DImpl : public torch::nn::Module {
 public:
  explicit DownBlock2DImpl(const DownBlock2DOptions& options);
  // Records <prefix>_resnet_<j> when tracing.
  DownBlockOutput forward(const torch::Tensor& x, const torch::Tensor& temb, Trace* trace = nullptr,
                          const std::string& prefix = "");

 private:
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<ResnetBlock2D> resnet_list_;
  Downsample2D downsampler_{nullptr};
};
TORCH_MODULE(DownBlock2D);

}  // namespace codiff::models
