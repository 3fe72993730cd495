// The sizes of every part of a CODiff model, and the named presets.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/models/autoencoder_kl.h"
#include "core/models/cave.h"
#include "core/models/ddpm_schedule.h"
#include "core/models/lora_layers.h"
#include "core/models/unet_2d_condition.h"

namespace codiff::models {

struct ModelArchitecture {
  std::string preset;
  CaVEConfig cave;
  UNet2DConditionConfig unet;
  AutoencoderKLConfig vae;
  DdpmScheduleConfig schedule;
  // T_L: CODiff runs its single step at 499 (OSEDiff uses 999).
  int64_t timestep = 499;
  // The generator's image is the input plus the VAE decoder's output (a
  // residual), for presets whose VAE is trained from scratch: it starts at
  // the JPEG instead of at what an untrained autoencoder reconstructs. The
  // decoder's conv_out is zero-initialised so the untrained generator is the
  // identity. Off for sd21 (the paper's generator).
  bool residual_output = false;
  // The UNet predicts the correction to the input's latent (z_H = z_L +
  // UNet) instead of the noise, with its conv_out zero-initialised: a UNet
  // trained from scratch then starts at z_H = z_L, where the noise
  // parametrisation starts from a random z_H (measured: the small generator
  // stayed at its identity start for 1000 steps). Off for sd21, whose
  // pretrained UNet predicts noise.
  bool latent_residual = false;
  // The generator refines CaVE's restoration instead of the JPEG: its VAE
  // encodes CaVE's restored image (and with residual_output the decoder's
  // output is added to that image); CaVE's tokens still condition the UNet.
  // A restoration stage before a generative one (as in DiffBIR), for presets
  // whose generator has no pretrained prior: measured on small, a generator
  // learning from the JPEG stayed at the JPEG's PSNR for 1000 CPU steps.
  // Off for sd21 (the paper's generator sees the JPEG).
  bool refine_restoration = false;
  // LoRA for the generator (rank 0 = none, every weight trained directly).
  LoraSettings unet_lora{/*rank=*/0, /*alpha=*/0.0};
  LoraSettings vae_lora{/*rank=*/0, /*alpha=*/0.0};

  // The projection from CaVE tokens to the UNet's cross-attention width.
  int64_t projection_in() const { return cave.widths.back(); }
  int64_t projection_out() const { return unet.cross_attention_dim; }
  // Input sides must be multiples of this (CaVE's 32x; the VAE's 8x divides it).
  int64_t size_multiple() const { return 32; }

  absl::Status Validate() const;
};

// "sd21": SD 2.1-base UNet and VAE + reference CaVE (64..512) + Linear(512, 1024),
//         LoRA rank 16 / alpha 8 as in the paper.
// "small": the same classes with far fewer channels, for 2-core CPUs.
// "tiny": the sizes of the parity fixtures, for fast tests.
absl::StatusOr<ModelArchitecture> PresetArchitecture(const std::string& name);
std::vector<std::string> PresetNames();

// JSON form (diffusers config keys for the UNet/VAE, reference constructor
// keys for CaVE), used inside model.yaml.
nlohmann::json ArchitectureToJson(const ModelArchitecture& arch);
absl::StatusOr<ModelArchitecture> ArchitectureFromJson(const nlohmann::json& json);

}  // namespace codiff::models
