#include "core/weights/diffusers_folder.h"

#include <filesystem>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;

// Loads `tensors` into `model` on the requested device/dtype; unused source
// keys are an error because they mean the config and the file disagree.
absl::StatusOr<LoadReport> LoadInto(torch::nn::Module& model, const TensorMap& tensors,
                                    const DiffusersLoadOptions& options, const std::string& what) {
  RETURN_IF_ERROR(CatchTorchErrors(what + ": moving model",
                                   [&]() { model.to(options.device, options.dtype); }));
  auto loaded = LoadStateDictStrict(model, tensors);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(what, ": ", loaded.status().message()));
  }
  LoadReport report = *std::move(loaded);
  if (!report.unused.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", report.Summary()));
  }
  model.eval();
  return report;
}

absl::Status CheckFolder(const std::string& dir, const DiffusersLoadOptions& options) {
  for (const std::string& name : {std::string("config.json"), options.weights_file}) {
    if (!fs::exists(fs::path(dir) / name)) {
      return absl::NotFoundError(absl::StrCat("diffusers folder ", dir, " has no ", name));
    }
  }
  return absl::OkStatus();
}

std::string LegacyAttentionName(const std::string& leaf) {
  if (leaf == "query") return "to_q";
  if (leaf == "key") return "to_k";
  if (leaf == "value") return "to_v";
  if (leaf == "proj_attn") return "to_out.0";
  return leaf;
}

}  // namespace

TensorMap NormalizeLegacyVaeKeys(TensorMap tensors) {
  TensorMap out;
  for (auto& [key, tensor] : tensors) {
    std::string name = key;
    const auto attn = name.find(".attentions.");
    if (attn != std::string::npos) {
      // <...>.attentions.<i>.<leaf>.<weight|bias>
      const auto leaf_begin = name.find('.', attn + 12) + 1;
      const auto leaf_end = name.rfind('.');
      if (leaf_begin != 0 && leaf_end != std::string::npos && leaf_end > leaf_begin) {
        const std::string leaf = name.substr(leaf_begin, leaf_end - leaf_begin);
        name = name.substr(0, leaf_begin) + LegacyAttentionName(leaf) + name.substr(leaf_end);
        const bool projection =
            absl::StrContains(name, ".to_q.") || absl::StrContains(name, ".to_k.") ||
            absl::StrContains(name, ".to_v.") || absl::StrContains(name, ".to_out.0.");
        if (projection && absl::EndsWith(name, ".weight") && tensor.dim() == 4 &&
            tensor.size(2) == 1 && tensor.size(3) == 1) {
          tensor = tensor.reshape({tensor.size(0), tensor.size(1)});
        }
      }
    }
    out[name] = std::move(tensor);
  }
  return out;
}

absl::StatusOr<LoadedDiffusersModel<models::UNet2DConditionModel>> LoadDiffusersUNet(
    const std::string& dir, const DiffusersLoadOptions& options) {
  RETURN_IF_ERROR(CheckFolder(dir, options));
  ASSIGN_OR_RETURN(auto config, models::UNet2DConditionConfig::FromJsonFile(
                                    (fs::path(dir) / "config.json").string()));
  ASSIGN_OR_RETURN(TensorMap tensors,
                   MapTensorFile((fs::path(dir) / options.weights_file).string()));
  LoadedDiffusersModel<models::UNet2DConditionModel> result;
  ASSIGN_OR_RETURN(result.model, CatchTorchErrors("UNet: building model", [&]() {
                     return models::UNet2DConditionModel(config);
                   }));
  ASSIGN_OR_RETURN(result.report, LoadInto(*result.model, tensors, options, "UNet " + dir));
  return result;
}

absl::StatusOr<LoadedDiffusersModel<models::AutoencoderKL>> LoadDiffusersVae(
    const std::string& dir, const DiffusersLoadOptions& options) {
  RETURN_IF_ERROR(CheckFolder(dir, options));
  ASSIGN_OR_RETURN(auto config, models::AutoencoderKLConfig::FromJsonFile(
                                    (fs::path(dir) / "config.json").string()));
  ASSIGN_OR_RETURN(TensorMap tensors,
                   MapTensorFile((fs::path(dir) / options.weights_file).string()));
  tensors = NormalizeLegacyVaeKeys(std::move(tensors));
  LoadedDiffusersModel<models::AutoencoderKL> result;
  ASSIGN_OR_RETURN(result.model, CatchTorchErrors("VAE: building model",
                                                  [&]() { return models::AutoencoderKL(config); }));
  ASSIGN_OR_RETURN(result.report, LoadInto(*result.model, tensors, options, "VAE " + dir));
  return result;
}

}  // namespace codiff
