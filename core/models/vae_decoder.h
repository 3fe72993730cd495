// diffusers VAE Decoder: conv_in -> UNetMidBlock2D -> UpDecoderBlock2D x N ->
// GroupNorm -> SiLU -> conv_out.
#pragma once

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/lora_layers.h"
#include "core/models/trace.h"
#include "core/models/unet_mid_block_2d.h"
#include "core/models/up_decoder_block_2d.h"

namespace codiff::models {

struct VaeDecoderOptions {
  int64_t in_channels = 4;  // latent channels
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels = {128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t norm_num_groups = 32;
  bool mid_block_add_attention = true;
};

class VaeDecoderImpl : public torch::nn::Module {
 public:
  explicit VaeDecoderImpl(const VaeDecoderOptions& options);
  // Records dec_conv_in, dec_mid_attn, dec_mid, dec_up_<i>, dec_out.
  torch::Tensor forward(const torch::Tensor& z, Trace* trace = nullptr);

 private:
  LoraCompatibleConv2d conv_in_{nullptr};
  torch::nn::ModuleList up_blocks_{nullptr};
  std::vector<UpDecoderBlock2D> up_list_;
  UNetMidBlock2D mid_block_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  LoraCompatibleConv2d conv_out_{nullptr};
};
TORCH_MODULE(VaeDecoder);

}  // namespace codiff::models
