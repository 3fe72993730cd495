// Loading diffusers model folders (config.json +
// diffusion_pytorch_model.safetensors), e.g. the "unet" and "vae"
// subfolders of stabilityai/stable-diffusion-2-1-base.
#pragma once

#include <string>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/models/autoencoder_kl.h"
#include "core/models/unet_2d_condition.h"
#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"

namespace codiff {

struct DiffusersLoadOptions {
  torch::Device device = torch::kCPU;
  torch::Dtype dtype = torch::kFloat32;  // the file's dtype is converted on copy
  std::string weights_file = "diffusion_pytorch_model.safetensors";
};

template <typename Model>
struct LoadedDiffusersModel {
  Model model{nullptr};
  LoadReport report;
};

// Builds the model from dir/config.json and loads the weights strictly: a
// missing key, a wrong shape or a key the model does not take is an error.
// The model is returned in eval mode.
absl::StatusOr<LoadedDiffusersModel<models::UNet2DConditionModel>> LoadDiffusersUNet(
    const std::string& dir, const DiffusersLoadOptions& options = {});
// As above; also accepts the legacy VAE key spellings (see
// NormalizeLegacyVaeKeys).
absl::StatusOr<LoadedDiffusersModel<models::AutoencoderKL>> LoadDiffusersVae(
    const std::string& dir, const DiffusersLoadOptions& options = {});

// Rewrites VAE state dicts from older diffusers: mid-block attention
// query/key/value/proj_attn become to_q/to_k/to_v/to_out.0, and attention
// weights stored as 1x1 convs ([C, C, 1, 1]) become [C, C], as diffusers does
// at load time. Other keys pass through unchanged.
TensorMap NormalizeLegacyVaeKeys(TensorMap tensors);

}  // namespace codiff
