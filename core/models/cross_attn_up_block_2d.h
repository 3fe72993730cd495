// diffusers CrossAttnUpBlock2D: (resnet over [hidden, skip], transformer)
// pairs, optional upsampler.
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
#include "core/models/up_block_2d.h"
#include "core/models/upsample_2d.h"

namespace codiff::models {

class CrossAttnUpBlock2DImpl : public torch::nn::Module {
 public:
  explicit CrossAttnUpBlock2DImpl(const UpBlock2DOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const std::vector<torch::Tensor>& skips,
                        const torch::Tensor& temb, const torch::Tensor& context,
                        const std::vector<int64_t>& upsample_size = {}, Trace* trace = nullptr,
                        const std::string& prefix = "");

  int64_t num_resnets() const { return static_cast<int64_t>(resnet_list_.size()); }

 private:
  torch::nn::ModuleList attentions_{nullptr};
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<Transformer2D> attention_list_;
  std::vector<ResnetBlock2D> resnet_list_;
  Upsample2D upsampler_{nullptr};
};
TORCH_MODULE(CrossAttnUpBlock2D);

}  // namespace codiff::models
