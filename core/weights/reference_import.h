// Importing the paper's own model: a Stable Diffusion 2.1-base diffusers
// folder (unet/, vae/) plus the authors' released CODiff files, `cave.pth`
// (CaVE state dict) and `codiff.pkl` (peft LoRA for UNet and VAE encoder, the
// trained conv_in, the CaVE -> UNet projection), into one of our model
// folders (preset "sd21") that the server loads.
//
// Sizes come from the files: the UNet/VAE from their config.json, CaVE's
// widths and block count and the projection's from tensor shapes, so a
// tiny-sized set imports exactly like the real one. The LoRA scale is peft's
// default lora_alpha (8, not stored in codiff.pkl) over the stored rank.
// Accounting is strict: every tensor of every source is used or listed in the
// report; a missing key, a shape or rank mismatch, an unknown adapter or a
// LoRA whose base layer does not exist is an error naming the key.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace codiff {

struct ReferenceImportSources {
  std::string sd21_dir;     // holds unet/ and vae/ (diffusers layout)
  std::string cave_path;    // cave.pth
  std::string codiff_path;  // codiff.pkl
};

struct ReferenceImportOptions {
  // false: fold each adapter into its base weight (W + alpha/r * B @ A), the
  // serving form; true: keep adapters as separate tensors (merged at load).
  bool keep_lora = false;
  // "float32", "float16" or "bfloat16": the dtype the folder stores.
  std::string dtype = "float32";
  // The peft lora_alpha the reference trained with (peft's default).
  double lora_alpha = 8.0;
};

struct ReferenceImportReport {
  std::vector<std::string> lines;  // human-readable, one fact per line
};

absl::StatusOr<ReferenceImportReport> ImportReferenceModel(const ReferenceImportSources& sources,
                                                           const std::string& out_dir,
                                                           const ReferenceImportOptions& options);

// Which diffusers weights file a unet/ or vae/ folder provides, in order of
// preference: diffusion_pytorch_model{,.fp16}.safetensors, then {,.fp16}.bin.
absl::StatusOr<std::string> FindDiffusersWeights(const std::string& dir);

}  // namespace codiff
