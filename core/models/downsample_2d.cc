#include "core/models/downsample_2d.h"

#include <torch/torch.h>

namespace codiff::models {

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding)
    : padding_(padding) {
  conv_ = register_module("conv", LoraCompatibleConv2d(channels, out_channels, 3, 2, padding));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  if (padding_ == 0) {
    namespace F = torch::nn::functional;
    return conv_(F::pad(x, F::PadFuncOptions({0, 1, 0, 1}).mode(torch::kConstant).value(0)));
  }
  return conv_(x);
}

}  // namespace codiff::models
