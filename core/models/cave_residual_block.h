// The residual block of CaVE (FBCNN's ResBlock with act_mode "BR"):
// conv3x3 -> BatchNorm -> ReLU -> conv3x3, plus identity. The children live in
// a Sequential named "res" so the state-dict keys are res.0 (conv), res.1 (BN)
// and res.3 (conv), matching the reference checkpoints; index 2 is the ReLU.
#pragma once

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace codiff::models {

class CaVEResidualBlockImpl : public torch::nn::Module {
 public:
  CaVEResidualBlockImpl(int64_t channels, double batch_norm_eps);

  // x + res(x).
  torch::Tensor forward(const torch::Tensor& x);

  // x + (res(x) + beta): FBCNN's QFAttention with gamma = 1 and a scalar beta.
  // The addition order follows the reference so fp32 rounding matches.
  torch::Tensor ForwardWithBeta(const torch::Tensor& x, double beta);

  // The residual branch alone, res(x).
  torch::Tensor Residual(const torch::Tensor& x);

  // Inference only: folds the BatchNorm's running statistics and affine
  // parameters into the first convolution and skips the BatchNorm from then
  // on (one pass over the activations fewer per block). Changes the
  // parameters, so a folded block must not be trained or saved.
  void FoldBatchNorm();

 private:
  torch::nn::Sequential res_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::BatchNorm2d norm_{nullptr};
  bool folded_ = false;
};
TORCH_MODULE(CaVEResidualBlock);

}  // namespace codiff::models
