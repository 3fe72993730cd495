// What stage 2 trains and how it is put together: the generator with the
// stage-1 CaVE frozen inside, the latent discriminator, and which of their
// parameters receive gradients.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/models/discriminator.h"
#include "core/models/one_step_generator.h"
#include "core/weights/tensor_io.h"
#include "training/recipe.h"

namespace codiff::training {

struct Stage2Model {
  models::OneStepGenerator generator{nullptr};
  models::LatentDiscriminator discriminator{nullptr};
  NamedTensors generator_trainable;      // names as in generator->named_parameters()
  NamedTensors discriminator_trainable;  // names as in discriminator->named_parameters()
  std::vector<std::string> notes;        // what was loaded, for the log
};

// Builds both networks for `recipe` (seeded, so a rebuild for resume/export
// gives the same untrained weights), loads base SD weights and the stage-1
// CaVE when the recipe names them, and sets requires_grad:
//  - CaVE: frozen (and kept in eval mode by the trainer);
//  - projection: trained;
//  - UNet: with LoRA (sd21) the adapters plus conv_in's base weight,
//    otherwise every weight;
//  - VAE: with LoRA the encoder/quant_conv adapters (decoder frozen),
//    otherwise encoder + quant_conv, and the decoder when train_vae_decoder;
//  - discriminator: with disc_lora_rank > 0 its LoRA, context and head,
//    otherwise everything.
absl::StatusOr<Stage2Model> BuildStage2Model(const Recipe& recipe);

// Resolves the stage-1 output a recipe names: a .safetensors file, a
// stage-1 run directory or a model folder.
absl::StatusOr<std::string> ResolveCaveFile(const std::string& path);

}  // namespace codiff::training
