// The blend step of both stages' exponential moving averages of weights.
#pragma once

#include <vector>

#include <torch/types.h>

namespace codiff::training {

// into[i] = decay * into[i] + (1 - decay) * from[i] for floating tensors
// (weights, BatchNorm's running statistics); integer tensors (BatchNorm's
// batch counter) are copied. Tensors pair by position; no autograd.
void BlendTensors(const std::vector<torch::Tensor>& into, const std::vector<torch::Tensor>& from,
                  double decay);

}  // namespace codiff::training
