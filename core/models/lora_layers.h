// Linear and Conv2d layers that can carry a LoRA adapter (diffusers'
// LoRACompatibleLinear/Conv). Without an adapter they are exactly nn::Linear /
// nn::Conv2d with the same state-dict keys ("weight", "bias"); with one they
// add children "lora_A" and "lora_B" and compute base(x) + scale * B(A(x)).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

namespace codiff::models {

struct LoraSettings {
  int64_t rank = 16;
  double alpha = 8.0;  // scale = alpha / rank (0.5 for the reference's 16/8)
};

class LoraCompatibleLinearImpl : public torch::nn::Module {
 public:
  LoraCompatibleLinearImpl(int64_t in_features, int64_t out_features, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);

  // A ~ N(0, 1/rank) (Gaussian init as in peft's init_lora_weights="gaussian"),
  // B = 0, so an injected adapter starts as the identity change.
  void EnableLora(const LoraSettings& settings);
  bool has_lora() const { return !lora_a_.is_empty(); }
  // W += scale * B @ A and drop nothing: the adapter stays, but is bypassed
  // until Unmerge() so both states can be compared.
  void Merge();
  void Unmerge();
  bool merged() const { return merged_; }
  // Folds the adapter into the base weight and removes it (for serving).
  void MergeAndRemove();
  std::vector<torch::Tensor> LoraParameters() const;

  int64_t in_features() const { return in_features_; }
  int64_t out_features() const { return out_features_; }
  torch::Tensor weight;
  torch::Tensor bias;

 private:
  torch::Tensor DeltaWeight() const;
  int64_t in_features_;
  int64_t out_features_;
  double scale_ = 0.0;
  bool merged_ = false;
  torch::nn::Linear lora_a_{nullptr};  // registered as "lora_A": in -> rank
  torch::nn::Linear lora_b_{nullptr};  // registered as "lora_B": rank -> out
};
TORCH_MODULE(LoraCompatibleLinear);

class LoraCompatibleConv2dImpl : public torch::nn::Module {
 public:
  LoraCompatibleConv2dImpl(int64_t in_channels, int64_t out_channels, int64_t kernel_size,
                           int64_t stride = 1, int64_t padding = 0, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);

  // A is a k x k conv (in -> rank) with the base stride/padding, B a 1x1 conv
  // (rank -> out), as peft builds a LoRA for Conv2d.
  void EnableLora(const LoraSettings& settings);
  bool has_lora() const { return !lora_a_.is_empty(); }
  void Merge();
  void Unmerge();
  bool merged() const { return merged_; }
  void MergeAndRemove();
  std::vector<torch::Tensor> LoraParameters() const;

  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  torch::Tensor weight;
  torch::Tensor bias;

 private:
  torch::Tensor DeltaWeight() const;
  int64_t in_channels_;
  int64_t out_channels_;
  int64_t kernel_size_;
  int64_t stride_;
  int64_t padding_;
  double scale_ = 0.0;
  bool merged_ = false;
  torch::nn::Conv2d lora_a_{nullptr};  // registered as "lora_A": k x k, in -> rank
  torch::nn::Conv2d lora_b_{nullptr};  // registered as "lora_B": 1 x 1, rank -> out
};
TORCH_MODULE(LoraCompatibleConv2d);

}  // namespace codiff::models
