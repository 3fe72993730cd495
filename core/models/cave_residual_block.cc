#include "core/models/cave_residual_block.h"

#include <torch/torch.h>

namespace codiff::models {

CaVEResidualBlockImpl::CaVEResidualBlockImpl(int64_t channels, double batch_norm_eps) {
  namespace nn = torch::nn;
  conv1_ = nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).bias(true));
  norm_ = nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(batch_norm_eps));
  conv2_ = nn::Conv2d(nn::Conv2dOptions(channels, channels, 3).padding(1).bias(true));
  res_ = register_module("res", nn::Sequential(conv1_, norm_, nn::ReLU(), conv2_));
}

torch::Tensor CaVEResidualBlockImpl::Residual(const torch::Tensor& x) {
  if (!folded_) return res_->forward(x);
  return conv2_->forward(conv1_->forward(x).relu_());
}

void CaVEResidualBlockImpl::FoldBatchNorm() {
  TORCH_CHECK(!norm_->is_training(), "FoldBatchNorm needs eval mode (running statistics)");
  if (folded_) return;
  torch::NoGradGuard no_grad;
  // BN(conv(x)) = scale * (W x + b - mean) + beta, scale = gamma / sqrt(var + eps).
  const torch::Tensor scale =
      norm_->weight / torch::sqrt(norm_->running_var + norm_->options.eps());
  conv1_->weight.mul_(scale.reshape({-1, 1, 1, 1}));
  conv1_->bias.sub_(norm_->running_mean).mul_(scale).add_(norm_->bias);
  folded_ = true;
}

torch::Tensor CaVEResidualBlockImpl::forward(const torch::Tensor& x) { return x + Residual(x); }

torch::Tensor CaVEResidualBlockImpl::ForwardWithBeta(const torch::Tensor& x, double beta) {
  return x + (Residual(x) + beta);
}

}  // namespace codiff::models
