// diffusers UpBlock2D: resnets over [hidden, skip] concatenations, optional
// upsampler.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/resnet_block_2d.h"
#include "core/models/trace.h"
#include "core/models/upsample_2d.h"

namespace codiff::models {

struct UpBlock2DOptions {
  int64_t in_channels = 0;           // width of the skips from the matching down block input
  int64_t prev_output_channels = 0;  // width of the incoming hidden state
  int64_t out_channels = 0;
  int64_t temb_channels = 0;
  int64_t num_layers = 3;
  int64_t groups = 32;
  double eps = 1e-5;
  bool add_upsample = true;
  // Cross-attention blocks only:
  int64_t heads = 1;
  int64_t transformer_layers = 1;
  int64_t cross_attention_dim = 0;
};

// Input width of resnet i: hidden (prev_output for the first, out after)
// plus the skip it consumes (in_channels for the last, out before).
ResnetBlock2DOptions UpResnetOptions(const UpBlock2DOptions& options, int64_t i);

class UpBlock2DImpl : public torch::nn::Module {
 public:
  explicit UpBlock2DImpl(const UpBlock2DOptions& options);
  // `skips` holds this block's skip tensors in down-path order; they are
  // consumed from the back. upsample_size as in Upsample2D.
  torch::Tensor forward(const torch::Tensor& x, const std::vector<torch::Tensor>& skips,
                        const torch::Tensor& temb, const std::vector<int64_t>& upsample_size = {});

  int64_t num_resnets() const { return static_cast<int64_t>(resnet_list_.size()); }

 private:
  torch::nn::ModuleList resnets_{nullptr};
  std::vector<ResnetBlock2D> resnet_list_;
  Upsample2D upsampler_{nullptr};
};
TORCH_MODULE(UpBlock2D);

}  // namespace codiff::models
