#include "core/models/resnet_block_2d.h"

#include <torch/torch.h>

#include "core/models/group_norm.h"

namespace codiff::models {

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& options) : options_(options) {
  const int64_t in = options.in_channels;
  const int64_t out = options.out_channels;
  // Registration order follows diffusers so state-dict keys list identically.
  norm1_ = register_module(
      "norm1",
      torch::nn::GroupNorm(torch::nn::GroupNormOptions(options.groups, in).eps(options.eps)));
  conv1_ = register_module("conv1", LoraCompatibleConv2d(in, out, 3, 1, 1));
  if (options.temb_channels > 0) {
    time_emb_proj_ =
        register_module("time_emb_proj", torch::nn::Linear(options.temb_channels, out));
  }
  norm2_ = register_module(
      "norm2",
      torch::nn::GroupNorm(torch::nn::GroupNormOptions(options.groups, out).eps(options.eps)));
  // "dropout" sits here in diffusers (p = 0 at inference); no weights.
  conv2_ = register_module("conv2", LoraCompatibleConv2d(out, out, 3, 1, 1));
  if (in != out) {
    conv_shortcut_ = register_module("conv_shortcut", LoraCompatibleConv2d(in, out, 1, 1, 0));
  }
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x, const torch::Tensor& temb) {
  torch::Tensor h = conv1_(torch::silu(GroupNormNchw(norm1_, x)));
  if (time_emb_proj_ && temb.defined()) {
    h = h + time_emb_proj_(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1);
  }
  h = conv2_(torch::silu(GroupNormNchw(norm2_, h)));
  const torch::Tensor shortcut = conv_shortcut_ ? conv_shortcut_(x) : x;
  torch::Tensor out = shortcut + h;
  if (options_.output_scale_factor != 1.0) out = out / options_.output_scale_factor;
  return out;
}

}  // namespace codiff::models
