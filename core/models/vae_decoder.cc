#include "core/models/vae_decoder.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/group_norm.h"

namespace codiff::models {
namespace {
constexpr double kVaeNormEps = 1e-6;  // diffusers hard-codes it for the whole VAE
}  // namespace

VaeDecoderImpl::VaeDecoderImpl(const VaeDecoderOptions& options) {
  const auto& boc = options.block_out_channels;
  TORCH_CHECK(!boc.empty(), "VaeDecoder: block_out_channels is empty");
  conv_in_ =
      register_module("conv_in", LoraCompatibleConv2d(options.in_channels, boc.back(), 3, 1, 1));
  // diffusers creates up_blocks before assigning mid_block, so its keys come first.
  up_blocks_ = register_module("up_blocks", torch::nn::ModuleList());
  int64_t output_channel = boc.back();
  for (size_t i = 0; i < boc.size(); ++i) {
    UpDecoderBlock2DOptions o;
    o.in_channels = output_channel;
    output_channel = boc[boc.size() - 1 - i];
    o.out_channels = output_channel;
    o.num_layers = options.layers_per_block + 1;
    o.groups = options.norm_num_groups;
    o.eps = kVaeNormEps;
    o.add_upsample = i + 1 < boc.size();
    up_list_.emplace_back(o);
    up_blocks_->push_back(up_list_.back());
  }
  UNetMidBlock2DOptions m;
  m.in_channels = boc.back();
  m.groups = options.norm_num_groups;
  m.eps = kVaeNormEps;
  m.add_attention = options.mid_block_add_attention;
  mid_block_ = register_module("mid_block", UNetMidBlock2D(m));
  conv_norm_out_ = register_module(
      "conv_norm_out",
      torch::nn::GroupNorm(
          torch::nn::GroupNormOptions(options.norm_num_groups, boc[0]).eps(kVaeNormEps)));
  // "conv_act" (SiLU) sits here in diffusers; no weights.
  conv_out_ =
      register_module("conv_out", LoraCompatibleConv2d(boc[0], options.out_channels, 3, 1, 1));
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& z, Trace* trace) {
  torch::Tensor h = conv_in_(z);
  if (trace) Record(trace, "dec_conv_in", h);
  h = mid_block_->forward(h, trace, "dec_mid");
  if (trace) Record(trace, "dec_mid", h);
  for (size_t i = 0; i < up_list_.size(); ++i) {
    h = up_list_[i]->forward(h);
    if (trace) Record(trace, absl::StrCat("dec_up_", i), h);
  }
  h = conv_out_(torch::silu(GroupNormNchw(conv_norm_out_, h)));
  if (trace) Record(trace, "dec_out", h);
  return h;
}

}  // namespace codiff::models
