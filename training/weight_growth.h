// Initialises a wider network from a narrower one's weights as the same
// function, so a model can grow capacity without starting over (a CPU
// training run from scratch costs hours the old model already spent).
#pragma once

#include <string>

#include "absl/status/status.h"

namespace torch::nn {
class Module;
}

namespace codiff::training {

// Loads the tensor file at `path` into `module`, whose tensors may be larger
// than the stored ones in any dimension (never smaller, same rank). Each
// stored tensor fills the leading slice of its target; for the weights of
// Conv2d, ConvTranspose2d and Linear layers the block where an old output
// channel reads a new input channel is zeroed, so the old channels compute
// exactly what they did and the new ones (fresh initialisation, BatchNorm at
// its defaults) start unseen by them. Layers that map to fixed sizes (the
// image, the tokens, the QF) then give the old outputs, and training moves
// the zeroed blocks from there. Every stored tensor must be used and every
// target present, except those under `may_lack_prefix` (when non-empty),
// which keep their current values.
absl::Status GrowModuleWeights(const std::string& path, torch::nn::Module& module,
                               const std::string& may_lack_prefix = "");

}  // namespace codiff::training
