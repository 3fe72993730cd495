#include "core/models/unet_mid_block_2d_cross_attn.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::models {

UNetMidBlock2DCrossAttnImpl::UNetMidBlock2DCrossAttnImpl(
    const UNetMidBlock2DCrossAttnOptions& options) {
  attentions_ = register_module("attentions", torch::nn::ModuleList());
  resnets_ = register_module("resnets", torch::nn::ModuleList());
  ResnetBlock2DOptions r;
  r.in_channels = options.in_channels;
  r.out_channels = options.in_channels;
  r.temb_channels = options.temb_channels;
  r.groups = options.groups;
  r.eps = options.eps;
  r.output_scale_factor = options.output_scale_factor;
  Transformer2DOptions t;
  t.heads = options.heads;
  t.dim_head = options.in_channels / options.heads;
  t.in_channels = options.in_channels;
  t.num_layers = options.transformer_layers;
  t.cross_attention_dim = options.cross_attention_dim;
  t.norm_num_groups = options.groups;

  resnet_list_.emplace_back(r);
  resnets_->push_back(resnet_list_.back());
  for (int64_t i = 0; i < options.num_layers; ++i) {
    attention_list_.emplace_back(t);
    attentions_->push_back(attention_list_.back());
    resnet_list_.emplace_back(r);
    resnets_->push_back(resnet_list_.back());
  }
}

torch::Tensor UNetMidBlock2DCrossAttnImpl::forward(const torch::Tensor& x,
                                                   const torch::Tensor& temb,
                                                   const torch::Tensor& context, Trace* trace,
                                                   const std::string& prefix) {
  torch::Tensor h = resnet_list_[0]->forward(x, temb);
  for (size_t i = 0; i < attention_list_.size(); ++i) {
    h = attention_list_[i]->forward(h, context, trace,
                                    trace ? absl::StrCat(prefix, "_attn_", i) : std::string());
    h = resnet_list_[i + 1]->forward(h, temb);
  }
  return h;
}

}  // namespace codiff::models
