#include "core/models/group_norm.h"

#include <torch/torch.h>

namespace codiff::models {

torch::Tensor GroupNormNchw(torch::nn::GroupNorm norm, const torch::Tensor& x) {
  const bool channels_last_cpu = x.dim() == 4 && x.is_cpu() && !x.is_contiguous() &&
                                 x.is_contiguous(torch::MemoryFormat::ChannelsLast);
  if (!channels_last_cpu) return norm->forward(x);
  return norm->forward(x.contiguous()).contiguous(torch::MemoryFormat::ChannelsLast);
}

}  // namespace codiff::models
