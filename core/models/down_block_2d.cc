#include "core/models/down_block_2d.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::models {

DownBlock2DImpl::DownBlock2DImpl(const DownBlock2DOptions& options) {
  resnets_ = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers; ++i) {
    ResnetBlock2DOptions r;
    r.in_channels = i == 0 ? options.in_channels : options.out_channels;
    r.out_channels = options.out_channels;
    r.temb_channels = options.temb_channels;
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

DownBlockOutput DownBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb,
                                         Trace* trace, const std::string& prefix) {
  DownBlockOutput out;
  torch::Tensor h = x;
  for (size_t i = 0; i < resnet_list_.size(); ++i) {
    h = resnet_list_[i]->forward(h, temb);
    if (trace) Record(trace, absl::StrCat(prefix, "_resnet_", i), h);
    out.skips.push_back(h);
  }
  if (downsampler_) {
    h = downsampler_(h);
    out.skips.push_back(h);
  }
  out.hidden = h;
  return out;
}

}  // namespace codiff::models
