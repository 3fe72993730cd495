#include "core/models/cross_attn_down_block_2d.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::models {

CrossAttnDownBlock2DImpl::CrossAttnDownBlock2DImpl(const DownBlock2DOptions& options) {
  // diffusers registers attentions before resnets; the key order follows.
  attentions_ = register_module("attentions", torch::nn::ModuleList());
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

    Transformer2DOptions t;
    t.heads = options.heads;
    t.dim_head = options.out_channels / options.heads;
    t.in_channels = options.out_channels;
    t.num_layers = options.transformer_layers;
    t.cross_attention_dim = options.cross_attention_dim;
    t.norm_num_groups = options.groups;
    attention_list_.emplace_back(t);
    attentions_->push_back(attention_list_.back());
  }
  if (options.add_downsample) {
    auto downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsampler_ =
        Downsample2D(options.out_channels, options.out_channels, options.downsample_padding);
    downsamplers->push_back(downsampler_);
  }
}

DownBlockOutput CrossAttnDownBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb,
                                                  const torch::Tensor& context, Trace* trace,
                                                  const std::string& prefix) {
  DownBlockOutput out;
  torch::Tensor h = x;
  for (size_t i = 0; i < resnet_list_.size(); ++i) {
    h = resnet_list_[i]->forward(h, temb);
    if (trace) Record(trace, absl::StrCat(prefix, "_resnet_", i), h);
    h = attention_list_[i]->forward(h, context, trace,
                                    trace ? absl::StrCat(prefix, "_attn_", i) : std::string());
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
