#include "core/models/basic_transformer_block.h"

#include <torch/torch.h>

namespace codiff::models {
namespace {

torch::nn::LayerNorm MakeLayerNorm(int64_t dim, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps).elementwise_affine(true));
}

}  // namespace

BasicTransformerBlockImpl::BasicTransformerBlockImpl(const BasicTransformerBlockOptions& options) {
  AttentionOptions self_attn;
  self_attn.query_dim = options.dim;
  self_attn.heads = options.heads;
  self_attn.dim_head = options.dim_head;
  AttentionOptions cross_attn = self_attn;
  cross_attn.cross_attention_dim = options.cross_attention_dim;

  norm1_ = register_module("norm1", MakeLayerNorm(options.dim, options.norm_eps));
  attn1_ = register_module("attn1", Attention(self_attn));
  norm2_ = register_module("norm2", MakeLayerNorm(options.dim, options.norm_eps));
  attn2_ = register_module("attn2", Attention(cross_attn));
  norm3_ = register_module("norm3", MakeLayerNorm(options.dim, options.norm_eps));
  ff_ = register_module("ff", FeedForward(options.dim));
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x,
                                                 const torch::Tensor& context, Trace* trace,
                                                 const std::string& prefix) {
  const torch::Tensor n1 = norm1_(x);
  const torch::Tensor a1 = attn1_(n1);
  torch::Tensor h = x + a1;
  const torch::Tensor a2 = attn2_(norm2_(h), context);
  h = h + a2;
  const torch::Tensor f = ff_(norm3_(h), trace, prefix);
  h = h + f;
  if (trace) {
    Record(trace, prefix + "_norm1", n1);
    Record(trace, prefix + "_attn1", a1);
    Record(trace, prefix + "_attn2", a2);
    Record(trace, prefix + "_ff", f);
    Record(trace, prefix, h);
  }
  return h;
}

}  // namespace codiff::models
