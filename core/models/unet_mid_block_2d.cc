#include "core/models/unet_mid_block_2d.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::models {

UNetMidBlock2DImpl::UNetMidBlock2DImpl(const UNetMidBlock2DOptions& options) {
  const int64_t c = options.in_channels;
  const int64_t head_dim = options.attention_head_dim > 0 ? options.attention_head_dim : c;
  ResnetBlock2DOptions r;
  r.in_channels = c;
  r.out_channels = c;
  r.groups = options.groups;
  r.eps = options.eps;
  AttentionOptions a;
  a.query_dim = c;
  a.heads = c / head_dim;
  a.dim_head = head_dim;
  a.qkv_bias = true;
  a.norm_num_groups = options.groups;
  a.norm_eps = options.eps;
  a.residual_connection = true;

  if (options.add_attention) attentions_ = register_module("attentions", torch::nn::ModuleList());
  resnets_ = register_module("resnets", torch::nn::ModuleList());
  resnet_list_.emplace_back(r);
  resnets_->push_back(resnet_list_.back());
  for (int64_t i = 0; i < options.num_layers; ++i) {
    if (options.add_attention) {
      attention_list_.emplace_back(a);
      attentions_->push_back(attention_list_.back());
    }
    resnet_list_.emplace_back(r);
    resnets_->push_back(resnet_list_.back());
  }
}

torch::Tensor UNetMidBlock2DImpl::forward(const torch::Tensor& x, Trace* trace,
                                          const std::string& prefix) {
  torch::Tensor h = resnet_list_[0]->forward(x);
  for (size_t i = 0; i + 1 < resnet_list_.size(); ++i) {
    if (i < attention_list_.size()) {
      h = attention_list_[i]->forward(h);
      if (trace) Record(trace, i == 0 ? prefix + "_attn" : absl::StrCat(prefix, "_attn_", i), h);
    }
    h = resnet_list_[i + 1]->forward(h);
  }
  return h;
}

}  // namespace codiff::models
