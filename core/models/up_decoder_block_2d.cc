#include "core/models/up_decoder_block_2d.h"

#include <torch/torch.h>

namespace codiff::models {

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(const UpDecoderBlock2DOptions& options) {
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
  if (options.add_upsample) {
    auto upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsampler_ = Upsample2D(options.out_channels, options.out_channels);
    upsamplers->push_back(upsampler_);
  }
}

torch::Tensor UpDecoderBlock2DImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& resnet : resnet_list_) h = resnet->forward(h);
  if (upsampler_) h = upsampler_(h);
  return h;
}

}  // namespace codiff::models
