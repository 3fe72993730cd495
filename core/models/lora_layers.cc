#include "core/models/lora_layers.h"

#include <cmath>

#include <torch/torch.h>

namespace codiff::models {
namespace {

namespace F = torch::nn::functional;

// Same default init as torch.nn.Linear / Conv2d (kaiming-uniform weight,
// uniform bias in +-1/sqrt(fan_in)), so an untrained model behaves like one
// built with PyTorch.
void DefaultInit(torch::Tensor& weight, torch::Tensor& bias, int64_t fan_in) {
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    bias.uniform_(-bound, bound);
  }
}

}  // namespace

LoraCompatibleLinearImpl::LoraCompatibleLinearImpl(int64_t in_features, int64_t out_features,
                                                   bool with_bias)
    : in_features_(in_features), out_features_(out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_features}));
  DefaultInit(weight, bias, in_features);
}

torch::Tensor LoraCompatibleLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = F::linear(x, weight, bias);
  if (has_lora() && !merged_) y = y + lora_b_->forward(lora_a_->forward(x)) * scale_;
  return y;
}

void LoraCompatibleLinearImpl::EnableLora(const LoraSettings& settings) {
  if (has_lora()) return;
  scale_ = settings.alpha / static_cast<double>(settings.rank);
  auto opts = torch::nn::LinearOptions(in_features_, settings.rank).bias(false);
  lora_a_ = register_module("lora_A", torch::nn::Linear(opts));
  lora_b_ = register_module(
      "lora_B",
      torch::nn::Linear(torch::nn::LinearOptions(settings.rank, out_features_).bias(false)));
  torch::NoGradGuard no_grad;
  lora_a_->weight.normal_(0.0, 1.0 / static_cast<double>(settings.rank));
  lora_b_->weight.zero_();
  lora_a_->to(weight.device(), weight.scalar_type());
  lora_b_->to(weight.device(), weight.scalar_type());
}

torch::Tensor LoraCompatibleLinearImpl::DeltaWeight() const {
  return torch::matmul(lora_b_->weight, lora_a_->weight) * scale_;
}

void LoraCompatibleLinearImpl::Merge() {
  if (!has_lora() || merged_) return;
  torch::NoGradGuard no_grad;
  weight.add_(DeltaWeight());
  merged_ = true;
}

void LoraCompatibleLinearImpl::Unmerge() {
  if (!has_lora() || !merged_) return;
  torch::NoGradGuard no_grad;
  weight.sub_(DeltaWeight());
  merged_ = false;
}

void LoraCompatibleLinearImpl::MergeAndRemove() {
  if (!has_lora()) return;
  Merge();
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_a_ = nullptr;
  lora_b_ = nullptr;
  merged_ = false;
}

std::vector<torch::Tensor> LoraCompatibleLinearImpl::LoraParameters() const {
  if (!has_lora()) return {};
  return {lora_a_->weight, lora_b_->weight};
}

LoraCompatibleConv2dImpl::LoraCompatibleConv2dImpl(int64_t in_channels, int64_t out_channels,
                                                   int64_t kernel_size, int64_t stride,
                                                   int64_t padding, bool with_bias)
    : in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      stride_(stride),
      padding_(padding) {
  weight = register_parameter("weight",
                              torch::empty({out_channels, in_channels, kernel_size, kernel_size}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_channels}));
  DefaultInit(weight, bias, in_channels * kernel_size * kernel_size);
}

torch::Tensor LoraCompatibleConv2dImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::conv2d(x, weight, bias, {stride_, stride_}, {padding_, padding_});
  if (has_lora() && !merged_) y = y + lora_b_->forward(lora_a_->forward(x)) * scale_;
  return y;
}

void LoraCompatibleConv2dImpl::EnableLora(const LoraSettings& settings) {
  if (has_lora()) return;
  scale_ = settings.alpha / static_cast<double>(settings.rank);
  lora_a_ = register_module(
      "lora_A",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(in_channels_, settings.rank, kernel_size_)
                            .stride(stride_)
                            .padding(padding_)
                            .bias(false)));
  lora_b_ = register_module(
      "lora_B",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(settings.rank, out_channels_, 1).bias(false)));
  torch::NoGradGuard no_grad;
  lora_a_->weight.normal_(0.0, 1.0 / static_cast<double>(settings.rank));
  lora_b_->weight.zero_();
  lora_a_->to(weight.device(), weight.scalar_type());
  lora_b_->to(weight.device(), weight.scalar_type());
}

torch::Tensor LoraCompatibleConv2dImpl::DeltaWeight() const {
  // B(A(x)) with a 1x1 B equals one conv whose kernel is B @ A over the rank.
  const auto& a = lora_a_->weight;                                  // [r, in, k, k]
  const auto& b = lora_b_->weight;                                  // [out, r, 1, 1]
  torch::Tensor delta = torch::matmul(b.flatten(1), a.flatten(1));  // [out, in*k*k]
  return delta.view(weight.sizes()) * scale_;
}

void LoraCompatibleConv2dImpl::Merge() {
  if (!has_lora() || merged_) return;
  torch::NoGradGuard no_grad;
  weight.add_(DeltaWeight());
  merged_ = true;
}

void LoraCompatibleConv2dImpl::Unmerge() {
  if (!has_lora() || !merged_) return;
  torch::NoGradGuard no_grad;
  weight.sub_(DeltaWeight());
  merged_ = false;
}

void LoraCompatibleConv2dImpl::MergeAndRemove() {
  if (!has_lora()) return;
  Merge();
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_a_ = nullptr;
  lora_b_ = nullptr;
  merged_ = false;
}

std::vector<torch::Tensor> LoraCompatibleConv2dImpl::LoraParameters() const {
  if (!has_lora()) return {};
  return {lora_a_->weight, lora_b_->weight};
}

}  // namespace codiff::models
