#include "training/stage2_model.h"

#include <filesystem>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/lora_injection.h"
#include "core/models/model_architecture.h"
#include "core/util/status_macros.h"
#include "core/weights/model_folder.h"
#include "training/base_weights.h"
#include "training/checkpoint.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

void Train(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.set_requires_grad(on);
}

NamedTensors Trainable(const torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& item : m.named_parameters()) {
    if (item.value().requires_grad()) out.emplace_back(item.key(), item.value());
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ResolveCaveFile(const std::string& path) {
  if (fs::is_regular_file(path)) return path;
  for (const char* candidate : {"cave.safetensors", "checkpoint/cave.safetensors"}) {
    const fs::path p = fs::path(path) / candidate;
    if (fs::is_regular_file(p)) return p.string();
  }
  return absl::NotFoundError(absl::StrCat("no stage-1 CaVE at ", path,
                                          " (expected a .safetensors file, a stage-1 run "
                                          "directory or a model folder)"));
}

absl::StatusOr<Stage2Model> BuildStage2Model(const Recipe& recipe) {
  const Stage2Options& o = recipe.stage2;
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, RecipeArchitecture(recipe));
  torch::manual_seed(recipe.seed);
  Stage2Model m;
  m.generator = BuildGenerator(arch);  // injects LoRA when the preset says so
  models::LatentDiscriminatorOptions dopt;
  dopt.unet = arch.unet;
  m.discriminator = models::LatentDiscriminator(dopt);
  if (o.disc_lora_rank > 0) {
    models::InjectLora(*m.discriminator, models::ReferenceUNetLoraTargets(),
                       {o.disc_lora_rank, o.disc_lora_rank / 2.0});
  }

  if (!o.base_unet.empty()) {
    std::string note;
    RETURN_IF_ERROR(
        LoadBaseUNet(o.base_unet, *m.generator->unet(), m.discriminator.ptr().get(), &note));
    m.notes.push_back(note);
  }
  if (!o.base_vae.empty()) {
    std::string note;
    RETURN_IF_ERROR(LoadBaseVae(o.base_vae, *m.generator->vae(), &note));
    m.notes.push_back(note);
  }
  if (arch.unet_lora.rank > 0 && o.base_unet.empty()) {
    m.notes.push_back(
        "warning: LoRA preset without base_unet: the adapters train on a random UNet");
  }
  if (!o.cave.empty()) {
    ASSIGN_OR_RETURN(std::string cave_file, ResolveCaveFile(o.cave));
    RETURN_IF_ERROR(LoadModuleWeights(cave_file, *m.generator->cave()));
    m.notes.push_back("CaVE from stage 1: " + cave_file);
  } else {
    m.notes.push_back("warning: no stage-1 CaVE given (stage2.cave): CaVE stays random");
  }

  models::OneStepGeneratorImpl& g = *m.generator;
  Train(g, false);
  Train(*g.proj(), true);
  if (arch.unet_lora.rank > 0) {
    for (auto& p : models::LoraParameters(*g.unet())) p.set_requires_grad(true);
    for (const auto& item : g.unet()->named_parameters()) {
      // The reference trains conv_in's base layer fully (new input statistics).
      if (item.key() == "conv_in.weight" || item.key() == "conv_in.bias") {
        item.value().set_requires_grad(true);
      }
    }
  } else {
    Train(*g.unet(), true);
  }
  if (arch.vae_lora.rank > 0) {
    for (auto& p : models::LoraParameters(*g.vae())) p.set_requires_grad(true);
  } else {
    for (const auto& item : g.vae()->named_parameters()) {
      const std::string& k = item.key();
      const bool decoder = StartsWith(k, "decoder.") || StartsWith(k, "post_quant_conv.");
      item.value().set_requires_grad(!decoder || o.train_vae_decoder);
    }
  }
  if (o.disc_lora_rank > 0) {
    Train(*m.discriminator, false);
    for (auto& p : models::LoraParameters(*m.discriminator)) p.set_requires_grad(true);
    for (const auto& item : m.discriminator->named_parameters()) {
      if (item.key() == "context" || StartsWith(item.key(), "head_")) {
        item.value().set_requires_grad(true);
      }
    }
  } else {
    Train(*m.discriminator, true);
  }
  m.generator_trainable = Trainable(g);
  m.discriminator_trainable = Trainable(*m.discriminator);
  return m;
}

}  // namespace codiff::training
