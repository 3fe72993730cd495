#include "core/models/up_block_2d.h"

#include <torch/torch.h>

namespace codiff::models {

ResnetBlock2DOptions UpResnetOptions(const UpBlock2DOptions& options, int64_t i) {
  const int64_t skip = i == options.num_layers - 1 ? options.in_channels : options.out_channels;
  const int64_t hidden = i == 0 ? options.prev_output_channels : options.out_channels;
  ResnetBlock2DOptions r;
  r.in_channels = hidden + skip;
  r.out_channels = options.out_channels;
  r.temb_channels = options.temb_channels;
  r.groups = options.groups;
  r.eps = options.eps;
  return r;
}

UpBlock2DImpl::UpBlock2DImpl(const UpBlock2DOptions& options) {
  resnets_ = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers; ++i) {
    resnet_list_.emplace_back(UpResnetOptions(options, i));
    resnets_->push_back(resnet_list_.back());
  }
  if (options.add_upsample) {
    auto upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsampler_ = Upsample2D(options.out_channels, options.out_channels);
    upsamplers->push_back(upsampler_);
  }
}

torch::Tensor UpBlock2DImpl::forward(const torch::Tensor& x,
                                     const std::vector<torch::Tensor>& skips,
                                     const torch::Tensor& temb,
                                     const std::vector<int64_t>& upsample_size) {
  TORCH_CHECK(skips.size() == resnet_list_.size(), "UpBlock2D: expected ", resnet_list_.size(),
              " skips, got ", skips.size());
  torch::Tensor h = x;
  for (size_t i = 0; i < resnet_list_.size(); ++i) {
    h = resnet_list_[i]->forward(torch::cat({h, skips[skips.size() - 1 - i]}, 1), temb);
  }
  if (upsampler_) h = upsampler_(h, upsample_size);
  return h;
}

}  // namespace codiff::models
