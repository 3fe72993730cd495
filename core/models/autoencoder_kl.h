// diffusers AutoencoderKL (the SD VAE). Submodules encoder, decoder,
// quant_conv, post_quant_conv, in diffusers' registration order.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/models/diagonal_gaussian.h"
#include "core/models/lora_layers.h"
#include "core/models/trace.h"
#include "core/models/vae_decoder.h"
#include "core/models/vae_encoder.h"

namespace codiff::models {

struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels = {128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 512;
  double scaling_factor = 0.18215;
  bool force_upcast = true;
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  // stabilityai/stable-diffusion-2-1(-base) vae/config.json.
  static AutoencoderKLConfig Sd21();
  // Parses a diffusers config dict; only DownEncoderBlock2D/UpDecoderBlock2D
  // and SiLU are implemented, anything else is Unimplemented.
  static absl::StatusOr<AutoencoderKLConfig> FromJson(const nlohmann::json& json);
  static absl::StatusOr<AutoencoderKLConfig> FromJsonFile(const std::string& path);
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const AutoencoderKLConfig& config = AutoencoderKLConfig::Sd21());

  // x: [B, in_channels, H, W] in [-1, 1]. Records enc_* , moments, mean,
  // logvar and std when tracing.
  DiagonalGaussian Encode(const torch::Tensor& x, Trace* trace = nullptr);
  // z: unscaled latents (divide by scaling_factor first). Output not clamped.
  // Records dec_post_quant and dec_* when tracing.
  torch::Tensor Decode(const torch::Tensor& z, Trace* trace = nullptr);

  const AutoencoderKLConfig& config() const { return config_; }

 private:
  AutoencoderKLConfig config_;
  VaeEncoder encoder_{nullptr};
  VaeDecoder decoder_{nullptr};
  LoraCompatibleConv2d quant_conv_{nullptr};
  LoraCompatibleConv2d post_quant_conv_{nullptr};
};
TORCH_MODULE(AutoencoderKL);

}  // namespace codiff::models
