// Injecting LoRA adapters into a model by target-name patterns, listing the
// trainable adapter parameters, and merging adapters into the base weights.
#pragma once

#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "core/models/lora_layers.h"

namespace codiff::models {

struct LoraTargetSet {
  // A layer is adapted when its dotted name starts with one of `scopes`
  // (empty = any) and ends with one of `suffixes` (matched at a dot boundary).
  std::vector<std::string> scopes;
  std::vector<std::string> suffixes;
};

// The reference CODiff targets: every attention projection, proj_in/out, the
// feed-forward linears, all ResNet convs, conv_in/conv_out and the
// down/up-sampler convs (not time_emb_proj, not the time embedding).
LoraTargetSet ReferenceUNetLoraTargets();
// The reference VAE targets: the same kinds of layers inside the encoder, plus
// quant_conv. The decoder and post_quant_conv stay frozen without LoRA.
LoraTargetSet ReferenceVaeLoraTargets();

bool MatchesLoraTarget(const std::string& layer_name, const LoraTargetSet& targets);

// Enables an adapter on every matching LoRA-compatible layer; returns the
// names of the adapted layers (in module order).
std::vector<std::string> InjectLora(torch::nn::Module& model, const LoraTargetSet& targets,
                                    const LoraSettings& settings);

// All adapter parameters (lora_A / lora_B weights) of the model.
std::vector<torch::Tensor> LoraParameters(const torch::nn::Module& model);
int64_t CountLoraParameters(const torch::nn::Module& model);

void MergeLora(torch::nn::Module& model);
void UnmergeLora(torch::nn::Module& model);
// Folds every adapter into its base weight and removes it (serving form).
void MergeAndRemoveLora(torch::nn::Module& model);

}  // namespace codiff::models
