// diffusers Transformer2DModel, linear-projection variant (SD 2.x):
// GroupNorm -> tokens -> proj_in -> transformer blocks -> proj_out -> + input.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/basic_transformer_block.h"
#include "core/models/lora_layers.h"
#include "core/models/trace.h"

namespace codiff::models {

struct Transformer2DOptions {
  int64_t heads = 8;
  int64_t dim_head = 64;
  int64_t in_channels = 0;  // must equal heads * dim_head (as in every SD config)
  int64_t num_layers = 1;
  int64_t cross_attention_dim = 0;
  int64_t norm_num_groups = 32;
};

class Transformer2DImpl : public torch::nn::Module {
 public:
  explicit Transformer2DImpl(const Transformer2DOptions& options);
  // Records <prefix>_groupnorm, _proj_in, _tb* (see BasicTransformerBlock),
  // _proj_out and <prefix> (the output, residual included).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context,
                        Trace* trace = nullptr, const std::string& prefix = "");

 private:
  torch::nn::GroupNorm norm_{nullptr};
  LoraCompatibleLinear proj_in_{nullptr};
  torch::nn::ModuleList transformer_blocks_{nullptr};
  std::vector<BasicTransformerBlock> blocks_;
  LoraCompatibleLinear proj_out_{nullptr};
};
TORCH_MODULE(Transformer2D);

}  // namespace codiff::models
