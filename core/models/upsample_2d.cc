#include "core/models/upsample_2d.h"

#include <torch/torch.h>

namespace codiff::models {

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels) {
  conv_ = register_module("conv", LoraCompatibleConv2d(channels, out_channels, 3, 1, 1));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x,
                                      const std::vector<int64_t>& output_size) {
  namespace F = torch::nn::functional;
  // Nearest upsampling has no bfloat16 kernel in older torch; diffusers upcasts.
  const torch::Tensor in = x.scalar_type() == torch::kBFloat16 ? x.to(torch::kFloat32) : x;
  auto options = F::InterpolateFuncOptions().mode(torch::kNearest);
  if (output_size.empty()) {
    options.scale_factor(std::vector<double>{2.0, 2.0});
  } else {
    options.size(output_size);
  }
  torch::Tensor up = F::interpolate(in, options);
  if (up.scalar_type() != x.scalar_type()) up = up.to(x.scalar_type());
  return conv_(up);
}

}  // namespace codiff::models
