// diffusers BasicTransformerBlock as SD 2.x uses it: self-attention,
// cross-attention and a GEGLU feed-forward, each pre-LayerNorm with a residual.
#pragma once

#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/attention.h"
#include "core/models/feed_forward.h"
#include "core/models/trace.h"

namespace codiff::models {

struct BasicTransformerBlockOptions {
  int64_t dim = 0;
  int64_t heads = 8;
  int64_t dim_head = 64;
  int64_t cross_attention_dim = 0;
  double norm_eps = 1e-5;
};

class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  explicit BasicTransformerBlockImpl(const BasicTransformerBlockOptions& options);
  // Records <prefix>_norm1, _attn1, _attn2, _geglu, _ff and <prefix> itself.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context,
                        Trace* trace = nullptr, const std::string& prefix = "");

 private:
  torch::nn::LayerNorm norm1_{nullptr};
  Attention attn1_{nullptr};
  torch::nn::LayerNorm norm2_{nullptr};
  Attention attn2_{nullptr};
  torch::nn::LayerNorm norm3_{nullptr};
  FeedForward ff_{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

}  // namespace codiff::models
