#include "core/models/feed_forward.h"

#include <torch/torch.h>

namespace codiff::models {

GegluImpl::GegluImpl(int64_t dim_in, int64_t dim_out) {
  proj_ = register_module("proj", LoraCompatibleLinear(dim_in, dim_out * 2));
}

torch::Tensor GegluImpl::forward(const torch::Tensor& x) {
  const auto halves = proj_(x).chunk(2, -1);
  return halves[0] * torch::gelu(halves[1]);  // default approximate="none": erf GELU
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, int64_t mult) {
  const int64_t inner = dim * mult;
  net_ = register_module("net", torch::nn::ModuleList());
  geglu_ = Geglu(dim, inner);
  out_ = LoraCompatibleLinear(inner, dim);
  net_->push_back(geglu_);
  // net.1 is Dropout in diffusers; a weightless placeholder keeps the indices.
  net_->push_back(torch::nn::Dropout(0.0));
  net_->push_back(out_);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x, Trace* trace,
                                       const std::string& prefix) {
  const torch::Tensor h = geglu_(x);
  if (trace) Record(trace, prefix + "_geglu", h);
  return out_(h);
}

}  // namespace codiff::models
