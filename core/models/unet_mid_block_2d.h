// diffusers UNetMidBlock2D as the VAE uses it: resnet, then (single-head
// self-attention with its own GroupNorm and residual, resnet) pairs; no time
// embedding.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/attention.h"
#include "core/models/resnet_block_2d.h"
#include "core/models/trace.h"

namespace codiff::models {

struct UNetMidBlock2DOptions {
  int64_t in_channels = 0;
  int64_t num_layers = 1;
  int64_t groups = 32;
  double eps = 1e-6;
  bool add_attention = true;
  // diffusers' attention_head_dim: the VAE passes in_channels, so one head.
  int64_t attention_head_dim = 0;  // 0: in_channels
};

class UNetMidBlock2DImpl : public torch::nn::Module {
 public:
  explicit UNetMidBlock2DImpl(const UNetMidBlock2DOptions& options);
  // Records <prefix>_attn (attention output, residual included) when tracing
  // (the first attention only, as the VAE has one).
  torch::Tensor forward(const torch::Tensor& x, Trace* trace = nullptr,
                        const std::string& prefix = "");

 private:
  torch::nn::ModuleList attentions_{nullptr};
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<Attention> attention_list_;
  std::vector<ResnetBlock2D> resnet_list_;
};
TORCH_MODULE(UNetMidBlock2D);

}  // namespace codiff::models
