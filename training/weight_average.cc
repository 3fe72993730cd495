#include "training/weight_average.h"

#include <torch/torch.h>

namespace codiff::training {

void BlendTensors(const std::vector<torch::Tensor>& into, const std::vector<torch::Tensor>& from,
                  double decay) {
  TORCH_CHECK(into.size() == from.size(), "BlendTensors: ", into.size(), " tensors against ",
              from.size());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < into.size(); ++i) {
    if (into[i].is_floating_point()) {
      into[i].mul_(decay).add_(from[i].detach(), 1.0 - decay);
    } else {
      into[i].copy_(from[i]);
    }
  }
}

}  // namespace codiff::training
