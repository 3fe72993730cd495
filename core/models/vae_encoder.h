// diffusers VAE Encoder: conv_in -> DownEncoderBlock2D x N -> UNetMidBlock2D ->
// GroupNorm -> SiLU -> conv_out (2 * latent channels: mean and logvar).
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/down_encoder_block_2d.h"
#include "core/models/lora_layers.h"
#include "core/models/trace.h"
#include "core/models/unet_mid_block_2d.h"

namespace codiff::models {

struct VaeEncoderOptions {
  int64_t in_channels = 3;
  int64_t out_channels = 4;  // latent channels; conv_out emits twice as many
  std::vector<int64_t> block_out_channels = {128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  bool mid_block_add_attention = true;
};

class VaeEncoderImpl : public torch::nn::Module {
 public:
  explicit VaeEncoderImpl(const VaeEncoderOptions& options);
  // Records enc_conv_in, enc_down_<i>, enc_mid_attn, enc_mid, enc_out.
  torch::Tensor forward(const torch::Tensor& x, Trace* trace = nullptr);

 private:
  LoraCompatibleConv2d conv_in_{nullptr};
  torch::nn::ModuleList down_blocks_{nullptr};
  std::vector<DownEncoderBlock2D> down_list_;
  UNetMidBlock2D mid_block_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  LoraCompatibleConv2d conv_out_{nullptr};
};
TORCH_MODULE(VaeEncoder);

}  // namespace codiff::models
