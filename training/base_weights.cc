#include "training/base_weights.h"

#include <map>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/weights/diffusers_folder.h"
#include "core/weights/state_dict.h"

namespace codiff::training {
namespace {

absl::Status CopyByName(const torch::nn::Module& source, torch::nn::Module& target,
                        bool allow_unused_source, int* copied) {
  std::map<std::string, torch::Tensor> dst;
  for (const auto& [name, t] : StateDictOf(target)) dst[name] = t;
  torch::NoGradGuard no_grad;
  *copied = 0;
  for (const auto& [name, t] : StateDictOf(source)) {
    auto it = dst.find(name);
    if (it == dst.end()) {
      if (allow_unused_source) continue;
      return absl::InvalidArgumentError(absl::StrCat("base weight ", name, " has no target"));
    }
    if (it->second.sizes() != t.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat("base weight ", name, " has the wrong shape"));
    }
    it->second.copy_(t);
    ++*copied;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadBaseUNet(const std::string& dir, torch::nn::Module& unet,
                          torch::nn::Module* discriminator, std::string* note) {
  ASSIGN_OR_RETURN(auto base, LoadDiffusersUNet(dir));
  int copied = 0, disc_copied = 0;
  RETURN_IF_ERROR(CopyByName(*base.model, unet, false, &copied));
  if (discriminator != nullptr) {
    RETURN_IF_ERROR(CopyByName(*base.model, *discriminator, true, &disc_copied));
  }
  *note = absl::StrCat("UNet base weights: ", copied, " tensors from ", dir,
                       "; discriminator backbone: ", disc_copied);
  return absl::OkStatus();
}

absl::Status LoadBaseVae(const std::string& dir, torch::nn::Module& vae, std::string* note) {
  ASSIGN_OR_RETURN(auto base, LoadDiffusersVae(dir));
  int copied = 0;
  RETURN_IF_ERROR(CopyByName(*base.model, vae, false, &copied));
  *note = absl::StrCat("VAE base weights: ", copied, " tensors from ", dir);
  return absl::OkStatus();
}

}  // namespace codiff::training
