#include "core/models/down_encoder_block_2d.h"

#include <torch/torch.h>

namespace codiff::models {

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(const DownEncoderBlock2DOptions& options) {
  resnets_ = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers; ++i) {
    ResnetBlock2DOptions r;
    r.in_channels = i == 0 ? options.in_channels : options.out_channels;
    r.out_channels = options.out_channels;
    r.groups = options.groups;
    r.eps = options.eps;
    resnet_list_.emplace_back(r);
    resnets_->push_back(resnet_list_.back());
  }
  if (options.add_downsample) {
    auto downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsampler_ =
        Downsample2D(options.out_channels, options.out_channels, options.downsample_padding);
    downsamplers->push_back(downsampler_);
  }
}

torch::Tensor DownEncoderBlock2DImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& resnet : resnet_list_) h = resnet->forward(h);
  if (downsampler_) h = downsampler_(h);
  return h;
}

}  // namespace codiff::models
