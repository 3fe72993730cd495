// One adversarial training step of stage 2 (generator, then discriminator),
// shared by the trainer loop and the tests that inspect a single step.
#pragma once

#include <map>
#include <string>

#include <torch/optim/optimizer.h>

#include "training/data/batch.h"
#include "training/recipe.h"
#include "training/stage2_model.h"

namespace codiff::training {

// Returns the logged losses: loss (the generator total), mse, perceptual,
// gan_g, gan_d. The caller keeps CaVE in eval mode (SetStage2TrainModes).
std::map<std::string, double> Stage2Step(Stage2Model& model, torch::optim::Optimizer& gen_opt,
                                         torch::optim::Optimizer& disc_opt, const Batch& batch,
                                         const Stage2Options& options);

// CaVE frozen in eval (its BatchNorm statistics are stage 1's); the rest of
// the generator and the discriminator in train mode.
void SetStage2TrainModes(Stage2Model& model);

}  // namespace codiff::training
