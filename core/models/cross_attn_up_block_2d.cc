#include "core/models/cross_attn_up_block_2d.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::models {

CrossAttnUpBlock2DImpl::CrossAttnUpBlock2DImpl(const UpBlock2DOptions& options) {
  attentions_ = register_module("attentions", torch::nn::ModuleList());
  resnets_ = register_module("resnets", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.num_layers; ++i) {
    resnet_list_.emplace_back(UpResnetOptions(options, i));
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
  if (options.add_upsample) {
    auto upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsampler_ = Upsample2D(options.out_channels, options.out_channels);
    upsamplers->push_back(upsampler_);
  }
}

torch::Tensor CrossAttnUpBlock2DImpl::forward(const torch::Tensor& x,
                                              const std::vector<torch::Tensor>& skips,
                                              const torch::Tensor& temb,
                                              const torch::Tensor& context,
                                              const std::vector<int64_t>& upsample_size,
                                              Trace* trace, const std::string& prefix) {
  TORCH_CHECK(skips.size() == resnet_list_.size(), "CrossAttnUpBlock2D: expected ",
              resnet_list_.size(), " skips, got ", skips.size());
  torch::Tensor h = x;
  for (size_t i = 0; i < resnet_list_.size(); ++i) {
    h = resnet_list_[i]->forward(torch::cat({h, skips[skips.size() - 1 - i]}, 1), temb);
    if (trace) Record(trace, absl::StrCat(prefix, "_resnet_", i), h);
    h = attention_list_[i]->forward(h, context, trace,
                                    trace ? absl::StrCat(prefix, "_attn_", i) : std::string());
  }
  if (upsampler_) h = upsampler_(h, upsample_size);
  return h;
}

}  // namespace codiff::models
