// diffusers CrossAttnDownBlock2D: (resnet, transformer) pairs, optional
// downsampler.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/down_block_2d.h"
#include "core/models/downsample_2d.h"
#include "core/models/resnet_block_2d.h"
#include "core/models/trace.h"
#include "core/models/transformer_2d.h"

namespace codiff::models {

class CrossAttnDownBlock2DImpl : public torch::nn::Module {
 public:
  explicit CrossAttnDownBlock2DImpl(const DownBlock2DOptions& options);
  // Records <prefix>_resnet_<j> and <prefix>_attn_<j> (with the transformer's
  // own intermediates) when tracing.
  DownBlockOutput forward(const torch::Tensor& x, const torch::Tensor& temb,
                          const torch::Tensor& context, Trace* trace = nullptr,
                          const std::string& prefix = "");

 private:
  torch::nn::ModuleList attentions_{nullptr};
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<Transformer2D> attention_list_;
  std::vector<ResnetBlock2D> resnet_list_;
  Downsample2D downsampler_{nullptr};
};
TORCH_MODULE(CrossAttnDownBlock2D);

}  // namespace codiff::models
