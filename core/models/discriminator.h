// CODiff's stage-2 latent discriminator: a copy of the SD UNet cut after the
// mid block (conv_in, time embedding, down blocks, mid block, with diffusers'
// key names so SD weights load into it), read at a fixed timestep with a
// learned context, followed by a small patch head that gives one logit per
// latent patch. It sees latents only (z_hat_H vs. the VAE-encoded HQ latent),
// never pixels, and no noise is added to them.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/cross_attn_down_block_2d.h"
#include "core/models/down_block_2d.h"
#include "core/models/embeddings.h"
#include "core/models/lora_layers.h"
#include "core/models/unet_2d_condition.h"
#include "core/models/unet_mid_block_2d_cross_attn.h"

namespace codiff::models {

struct LatentDiscriminatorOptions {
  UNet2DConditionConfig unet;
  // The reference evaluates the backbone at t = 199 with a 77-token context.
  int64_t timestep = 199;
  int64_t context_tokens = 77;
};

class LatentDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit LatentDiscriminatorImpl(const LatentDiscriminatorOptions& options);

  // latents [B, C, h, w] (scaled by the VAE scaling factor, like the UNet's
  // input) -> patch logits [B, 1, h', w'].
  torch::Tensor forward(const torch::Tensor& latents);

  // The GroupNorm group count of the head: 32 as in the reference, or the
  // largest divisor of the channel count below it for narrow presets.
  static int64_t HeadGroups(int64_t channels);

  const LatentDiscriminatorOptions& options() const { return options_; }

 private:
  struct DownEntry {
    CrossAttnDownBlock2D cross{nullptr};
    DownBlock2D plain{nullptr};
  };

  LatentDiscriminatorOptions options_;
  LoraCompatibleConv2d conv_in_{nullptr};
  TimestepEmbedding time_embedding_{nullptr};
  torch::nn::ModuleList down_blocks_{nullptr};
  std::vector<DownEntry> down_;
  UNetMidBlock2DCrossAttn mid_block_{nullptr};
  torch::Tensor context_;  // [1, tokens, cross_attention_dim], learned
  torch::nn::Conv2d head_conv1_{nullptr};
  torch::nn::GroupNorm head_norm_{nullptr};
  torch::nn::Conv2d head_conv2_{nullptr};
};
TORCH_MODULE(LatentDiscriminator);

}  // namespace codiff::models
