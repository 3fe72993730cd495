// diffusers UNetMidBlock2DCrossAttn: resnet, then (transformer, resnet) pairs.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/resnet_block_2d.h"
#include "core/models/trace.h"
#include "core/models/transformer_2d.h"

namespace codiff::models {

struct UNetMidBlock2DCrossAttnOptions {
  int64_t in_channels = 0;
  int64_t temb_channels = 0;
  int64_t num_layers = 1;
  int64_t groups = 32;
  double eps = 1e-5;
  double output_scale_factor = 1.0;
  int64_t heads = 1;
  int64_t transformer_layers = 1;
  int64_t cross_attention_dim = 0;
};

class UNetMidBlock2DCrossAttnImpl : public torch::nn::Module {
 public:
  explicit UNetMidBlock2DCrossAttnImpl(const UNetMidBlock2DCrossAttnOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb,
                        const torch::Tensor& context, Trace* trace = nullptr,
                        const std::string& prefix = "");

 private:
  torch::nn::ModuleList attentions_{nullptr};
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<Transformer2D> attention_list_;
  std::vector<ResnetBlock2D> resnet_list_;
};
TORCH_MODULE(UNetMidBlock2DCrossAttn);

}  // namespace codiff::models
