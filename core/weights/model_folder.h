// Our model folder: model.yaml (architecture, T_L, scaling factor,
// provenance) plus one safetensors file per part:
//   cave.safetensors        CaVE (reference key names)
//   projection.safetensors  weight [C_ctx, C_cave], bias [C_ctx]
//   unet.safetensors        UNet (diffusers key names; LoRA adapters as
//                           <layer>.lora_A.weight / <layer>.lora_B.weight)
//   vae.safetensors         VAE (same conventions)
#pragma once

#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/models/one_step_generator.h"
#include "core/weights/state_dict.h"

namespace codiff {

inline constexpr char kModelFormat[] = "codiff-model/1";

// A file a model was made from (e.g. the SD 2.1 UNet, cave.pth, codiff.pkl).
struct SourceFile {
  std::string role;    // "unet", "vae", "cave", "codiff", ...
  std::string path;    // as given to the tool that read it
  std::string sha256;  // hex digest of the file's bytes
  int64_t bytes = 0;
};

struct ModelProvenance {
  bool trained = false;     // false: random weights, for tests and smoke runs only
  std::string description;  // how the weights came to be (recipe, command, data)
  std::string created_by;   // the tool that wrote the folder
  // The range of JPEG quality factors the model was trained on (0 = not
  // recorded); the server returns JPEGs of a higher quality as they are.
  int trained_qf_min = 0;
  int trained_qf_max = 0;
  // The mode a request that names none runs: "perceptual" or "fidelity"
  // (model.yaml default_mode; perceptual when absent). A model whose
  // generator adds nothing measurable over CaVE's restoration (the bundled
  // small model) names fidelity, so callers do not pay 2.8x for nothing.
  std::string default_mode = "perceptual";
  // model.yaml `perceptual: inert`: the generator was measured to add
  // nothing over CaVE's restoration (the bundled small model: NIQE and PSNR
  // within noise of fidelity at 2.8x the cost), so the server runs perceptual
  // requests on the fidelity path and says so in the response. Absent or
  // `perceptual: active`: perceptual runs the generator.
  bool perceptual_inert = false;
  // The files the weights were imported from (empty for trained models).
  std::vector<SourceFile> sources = {};
};

struct LoadedModel {
  models::OneStepGenerator generator{nullptr};
  ModelProvenance provenance;
  std::vector<std::string> report;  // one load-report line per part
};

struct ModelLoadOptions {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
  // Fold LoRA adapters into the base weights after loading (faster serving).
  bool merge_lora = true;
};

// Builds the generator for `arch` with LoRA adapters injected as it says.
models::OneStepGenerator BuildGenerator(const models::ModelArchitecture& arch);

absl::Status WriteModelFolder(const std::string& dir, models::OneStepGeneratorImpl& generator,
                              const ModelProvenance& provenance);

absl::StatusOr<LoadedModel> LoadModelFolder(const std::string& dir,
                                            const ModelLoadOptions& options = {});

// Reads only model.yaml (cheap: no weights).
absl::StatusOr<models::ModelArchitecture> ReadModelArchitecture(const std::string& dir,
                                                                ModelProvenance* provenance);

}  // namespace codiff
