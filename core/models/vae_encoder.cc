#include "core/models/vae_encoder.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/group_norm.h"

namespace codiff::models {
namespace {
constexpr double kVaeNormEps = 1e-6;  // diffusers hard-codes it for the whole VAE
}  // namespace

VaeEncoderImpl::VaeEncoderImpl(const VaeEncoderOptions& options) {
  const auto& boc = options.block_out_channels;
  TORCH_CHECK(!boc.empty(), "VaeEncoder: block_out_channels is empty");
  conv_in_ = register_module("conv_in", LoraCompatibleConv2d(options.in_channels, boc[0], 3, 1, 1));
  down_blocks_ = register_module("down_blocks", torch::nn::ModuleList());
  int64_t output_channel = boc[0];
  for (size_t i = 0; i < boc.size(); ++i) {
    DownEncoderBlock2DOptions o;
    o.in_channels = output_channel;
    output_channel = boc[i];
    o.out_channels = output_channel;
    o.num_layers = options.layers_per_block;
    o.groups = options.norm_num_groups;
    o.eps = kVaeNormEps;
    o.add_downsample = i + 1 < boc.size();
    o.downsample_padding = 0;
    down_list_.emplace_back(o);
    down_blocks_->push_back(down_list_.back());
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
          torch::nn::GroupNormOptions(options.norm_num_groups, boc.back()).eps(kVaeNormEps)));
  // "conv_act" (SiLU) sits here in diffusers; no weights.
  conv_out_ = register_module("conv_out",
                              LoraCompatibleConv2d(boc.back(), 2 * options.out_channels, 3, 1, 1));
}

torch::Tensor VaeEncoderImpl::forward(const torch::Tensor& x, Trace* trace) {
  torch::Tensor h = conv_in_(x);
  if (trace) Record(trace, "enc_conv_in", h);
  for (size_t i = 0; i < down_list_.size(); ++i) {
    h = down_list_[i]->forward(h);
    if (trace) Record(trace, absl::StrCat("enc_down_", i), h);
  }
  h = mid_block_->forward(h, trace, "enc_mid");
  if (trace) Record(trace, "enc_mid", h);
  h = conv_out_(torch::silu(GroupNormNchw(conv_norm_out_, h)));
  if (trace) Record(trace, "enc_out", h);
  return h;
}

}  // namespace codiff::models
