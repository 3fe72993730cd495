#include "core/util/channels_last.h"

#include <torch/torch.h>

namespace codiff {

void MakeConvWeightsChannelsLast(torch::nn::Module& module) {
  for (auto& parameter : module.parameters()) {
    if (parameter.dim() == 4) {
      parameter.set_data(parameter.data().contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }
}

}  // namespace codiff
