#include "core/models/cave_residual_block.h"

#include <torch/torch.h>

namespace codiff::models {

CaVEResidualBlockImpl::CaVEResidualBlockImpl(int64_t channels, double batch_norm_eps) {
  namespace nn = torch::nn;
  res_ = register_module(
      "res", nn::Sequential(
                 nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).bias(true)),
                 nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(batch_norm_eps)), nn::ReLU(),
                 nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).bias(true))));
}

torch::Tensor CaVEResidualBlockImpl::Residual(const torch::Tensor& x) { return res_->forward(x); }

torch::Tensor CaVEResidualBlockImpl::forward(const torch::Tensor& x) { return x + Residual(x); }

torch::Tensor CaVEResidualBlockImpl::ForwardWithBeta(const torch::Tensor& x, double beta) {
  return x + (Residual(x) + beta);
}

}  // namespace codiff::models
