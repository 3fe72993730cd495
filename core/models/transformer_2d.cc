#include "core/models/transformer_2d.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/group_norm.h"

namespace codiff::models {

Transformer2DImpl::Transformer2DImpl(const Transformer2DOptions& options) {
  const int64_t inner = options.heads * options.dim_head;
  TORCH_CHECK(inner == options.in_channels, "Transformer2D: heads * dim_head (", inner,
              ") must equal in_channels (", options.in_channels, ")");
  // diffusers hard-codes eps 1e-6 for this GroupNorm, unlike the resnets' norm_eps.
  norm_ = register_module(
      "norm",
      torch::nn::GroupNorm(torch::nn::GroupNormOptions(options.norm_num_groups, options.in_channels)
                               .eps(1e-6)
                               .affine(true)));
  proj_in_ = register_module("proj_in", LoraCompatibleLinear(options.in_channels, inner));
  transformer_blocks_ = register_module("transformer_blocks", torch::nn::ModuleList());
  BasicTransformerBlockOptions block;
  block.dim = inner;
  block.heads = options.heads;
  block.dim_head = options.dim_head;
  block.cross_attention_dim = options.cross_attention_dim;
  for (int64_t i = 0; i < options.num_layers; ++i) {
    blocks_.emplace_back(block);
    transformer_blocks_->push_back(blocks_.back());
  }
  proj_out_ = register_module("proj_out", LoraCompatibleLinear(inner, options.in_channels));
}

torch::Tensor Transformer2DImpl::forward(const torch::Tensor& x, const torch::Tensor& context,
                                         Trace* trace, const std::string& prefix) {
  const int64_t b = x.size(0);
  const int64_t c = x.size(1);
  const int64_t h = x.size(2);
  const int64_t w = x.size(3);
  const torch::Tensor normed = GroupNormNchw(norm_, x);
  torch::Tensor tokens = proj_in_(normed.permute({0, 2, 3, 1}).reshape({b, h * w, c}));
  if (trace) {
    Record(trace, prefix + "_groupnorm", normed);
    Record(trace, prefix + "_proj_in", tokens);
  }
  for (size_t i = 0; i < blocks_.size(); ++i) {
    tokens = blocks_[i]->forward(
        tokens, context, trace,
        trace ? (i == 0 ? prefix + "_tb" : absl::StrCat(prefix, "_tb", i)) : std::string());
  }
  tokens = proj_out_(tokens);
  if (trace) Record(trace, prefix + "_proj_out", tokens);
  const torch::Tensor out = tokens.reshape({b, h, w, c}).permute({0, 3, 1, 2}).contiguous() + x;
  if (trace) Record(trace, prefix, out);
  return out;
}

}  // namespace codiff::models
