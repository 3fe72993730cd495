// diffusers FeedForward with the GEGLU activation (keys ff.net.0.proj, ff.net.2).
#pragma once

#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/lora_layers.h"
#include "core/models/trace.h"

namespace codiff::models {

// proj: Linear(dim_in -> 2 * dim_out); first half is the value, second half
// the gate, output = value * gelu(gate) with the exact (erf) GELU.
class GegluImpl : public torch::nn::Module {
 public:
  GegluImpl(int64_t dim_in, int64_t dim_out);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  LoraCompatibleLinear proj_{nullptr};
};
TORCH_MODULE(Geglu);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, int64_t mult = 4);
  // Records "<prefix>_geglu" when tracing.
  torch::Tensor forward(const torch::Tensor& x, Trace* trace = nullptr,
                        const std::string& prefix = "");

 private:
  torch::nn::ModuleList net_{nullptr};
  Geglu geglu_{nullptr};
  LoraCompatibleLinear out_{nullptr};
};
TORCH_MODULE(FeedForward);

}  // namespace codiff::models
