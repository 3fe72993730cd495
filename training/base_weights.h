// Pretrained SD 2.1-base weights (diffusers folders) for stage 2.
#pragma once

#include <string>

#include <torch/nn/module.h>

#include "absl/status/status.h"

namespace codiff::training {

// Copies base weights into modules that may carry LoRA adapters (which the
// strict loader would report as missing) by name. Every tensor of the base
// UNet must land in `unet`; `discriminator` (may be null) takes those it
// has (conv_in, time embedding, down blocks, mid block). Returns a note.
absl::Status LoadBaseUNet(const std::string& dir, torch::nn::Module& unet,
                          torch::nn::Module* discriminator, std::string* note);
absl::Status LoadBaseVae(const std::string& dir, torch::nn::Module& vae, std::string* note);

}  // namespace codiff::training
