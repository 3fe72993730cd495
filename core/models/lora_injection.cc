#include "core/models/lora_injection.h"

#include <torch/torch.h>

#include "absl/strings/match.h"

namespace codiff::models {
namespace {

const std::vector<std::string>& AdaptableLayerSuffixes() {
  static const std::vector<std::string> kSuffixes = {"to_q",
                                                     "to_k",
                                                     "to_v",
                                                     "to_out.0",
                                                     "proj_in",
                                                     "proj_out",
                                                     "ff.net.0.proj",
                                                     "ff.net.2",
                                                     "conv1",
                                                     "conv2",
                                                     "conv_shortcut",
                                                     "conv_in",
                                                     "conv_out",
                                                     "downsamplers.0.conv",
                                                     "upsamplers.0.conv"};
  return kSuffixes;
}

template <typename Fn>
void ForEachLoraLayer(const torch::nn::Module& model, Fn&& fn) {
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    if (auto* linear = dynamic_cast<LoraCompatibleLinearImpl*>(item.value().get())) {
      fn(item.key(), linear);
    } else if (auto* conv = dynamic_cast<LoraCompatibleConv2dImpl*>(item.value().get())) {
      fn(item.key(), conv);
    }
  }
}

}  // namespace

LoraTargetSet ReferenceUNetLoraTargets() { return {{}, AdaptableLayerSuffixes()}; }

LoraTargetSet ReferenceVaeLoraTargets() {
  LoraTargetSet targets{{"encoder."}, AdaptableLayerSuffixes()};
  // quant_conv sits outside the encoder module but belongs to its side.
  targets.scopes.push_back("quant_conv");
  targets.suffixes.push_back("quant_conv");
  return targets;
}

bool MatchesLoraTarget(const std::string& layer_name, const LoraTargetSet& targets) {
  bool in_scope = targets.scopes.empty();
  for (const auto& scope : targets.scopes) {
    in_scope = in_scope || absl::StartsWith(layer_name, scope);
  }
  if (!in_scope) return false;
  for (const auto& suffix : targets.suffixes) {
    if (layer_name == suffix || absl::EndsWith(layer_name, "." + suffix)) return true;
  }
  return false;
}

std::vector<std::string> InjectLora(torch::nn::Module& model, const LoraTargetSet& targets,
                                    const LoraSettings& settings) {
  std::vector<std::string> adapted;
  ForEachLoraLayer(model, [&](const std::string& name, auto* layer) {
    if (!MatchesLoraTarget(name, targets)) return;
    layer->EnableLora(settings);
    adapted.push_back(name);
  });
  return adapted;
}

std::vector<torch::Tensor> LoraParameters(const torch::nn::Module& model) {
  std::vector<torch::Tensor> params;
  ForEachLoraLayer(model, [&](const std::string&, auto* layer) {
    for (auto& p : layer->LoraParameters()) params.push_back(p);
  });
  return params;
}

int64_t CountLoraParameters(const torch::nn::Module& model) {
  int64_t count = 0;
  for (const auto& p : LoraParameters(model)) count += p.numel();
  return count;
}

void MergeLora(torch::nn::Module& model) {
  ForEachLoraLayer(model, [](const std::string&, auto* layer) { layer->Merge(); });
}

void UnmergeLora(torch::nn::Module& model) {
  ForEachLoraLayer(model, [](const std::string&, auto* layer) { layer->Unmerge(); });
}

void MergeAndRemoveLora(torch::nn::Module& model) {
  ForEachLoraLayer(model, [](const std::string&, auto* layer) { layer->MergeAndRemove(); });
}

}  // namespace codiff::models
