// Applies the recipe's learning-rate schedule to an optimizer.
#pragma once

#include <torch/optim/optimizer.h>

namespace codiff::training {

// Sets every parameter group of `optimizer` to `lr`.
void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace codiff::training
