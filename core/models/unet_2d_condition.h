// diffusers UNet2DConditionModel, restricted to what SD 2.x configs use:
// positional time embedding, CrossAttn/plain down and up blocks, the
// cross-attention mid block and linear-projection transformers.
//
// Submodule names and registration order reproduce the diffusers state dict
// (conv_in, time_embedding, down_blocks, up_blocks, mid_block, conv_norm_out,
// conv_out), so diffusers checkpoints load key for key.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/models/cross_attn_down_block_2d.h"
#include "core/models/cross_attn_up_block_2d.h"
#include "core/models/down_block_2d.h"
#include "core/models/embeddings.h"
#include "core/models/lora_layers.h"
#include "core/models/trace.h"
#include "core/models/unet_mid_block_2d_cross_attn.h"
#include "core/models/up_block_2d.h"

namespace codiff::models {

struct UNet2DConditionConfig {
  int64_t sample_size = 64;
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0.0;
  std::vector<std::string> down_block_types = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                               "CrossAttnDownBlock2D", "DownBlock2D"};
  std::string mid_block_type = "UNetMidBlock2DCrossAttn";
  std::vector<std::string> up_block_types = {"UpBlock2D", "CrossAttnUpBlock2D",
                                             "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels = {320, 640, 1280, 1280};
  int64_t layers_per_block = 2;
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1024;
  // Per block (a scalar in the JSON is broadcast).
  std::vector<int64_t> transformer_layers_per_block = {1, 1, 1, 1};
  // Number of heads per block. diffusers reads "num_attention_heads" and falls
  // back to "attention_head_dim", which SD configs (mis)use for the head count.
  std::vector<int64_t> num_attention_heads = {5, 10, 20, 20};
  bool use_linear_projection = true;
  bool upcast_attention = false;   // only matters in fp16; kept for reporting
  int64_t time_embedding_dim = 0;  // 0: 4 * block_out_channels[0]

  // stabilityai/stable-diffusion-2-1-base unet/config.json.
  static UNet2DConditionConfig Sd21Base();
  // Parses a diffusers config dict. Options this port does not implement
  // (class/addition embeddings, conv projections, scale-shift norms, ...) are
  // rejected with Unimplemented rather than silently ignored.
  static absl::StatusOr<UNet2DConditionConfig> FromJson(const nlohmann::json& json);
  static absl::StatusOr<UNet2DConditionConfig> FromJsonFile(const std::string& path);

  // Width of the time embedding every resnet reads (4 x the first block's).
  int64_t TimeEmbeddingChannels() const;
  // The options of down block i and of the mid block, shared by the UNet and
  // the latent discriminator, whose backbone is the same down path.
  DownBlock2DOptions DownBlockOptions(size_t i) const;
  UNetMidBlock2DCrossAttnOptions MidBlockOptions() const;
};

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionModelImpl(
      const UNet2DConditionConfig& config = UNet2DConditionConfig::Sd21Base());

  // sample [B, C, H, W]; timestep float or integer, scalar, [1] or [B];
  // encoder_hidden_states [B, K, cross_attention_dim]. Returns the predicted
  // noise [B, out_channels, H, W] in the sample's dtype and device.
  // With `trace`, records t_proj, time_emb, conv_in, down_i, down_i_skip_j,
  // mid, up_i, conv_norm_out, out and the inner tensors of each block
  // (d<i>_resnet_<j>, d<i>_attn_<j>_*, m_attn_<j>_*, u<i>_*).
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep,
                        const torch::Tensor& encoder_hidden_states, Trace* trace = nullptr);

  const UNet2DConditionConfig& config() const { return config_; }

 private:
  // Exactly one of the two is set per block, following the block type.
  struct DownEntry {
    CrossAttnDownBlock2D cross{nullptr};
    DownBlock2D plain{nullptr};
  };
  struct UpEntry {
    CrossAttnUpBlock2D cross{nullptr};
    UpBlock2D plain{nullptr};
  };

  UNet2DConditionConfig config_;
  LoraCompatibleConv2d conv_in_{nullptr};
  TimestepEmbedding time_embedding_{nullptr};
  torch::nn::ModuleList down_blocks_{nullptr};
  torch::nn::ModuleList up_blocks_{nullptr};
  std::vector<DownEntry> down_;
  std::vector<UpEntry> up_;
  UNetMidBlock2DCrossAttn mid_block_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
  LoraCompatibleConv2d conv_out_{nullptr};
};
TORCH_MODULE(UNet2DConditionModel);

}  // namespace codiff::models
