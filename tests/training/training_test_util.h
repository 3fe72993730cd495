// Shared helpers of the training tests: synthetic images and tiny recipes.
#pragma once

#include <string>

#include "training/recipe.h"

namespace codiff::training::testing {

// Writes `count` smooth synthetic PNGs (gradients, edges and texture, so JPEG
// leaves real artifacts) of size w x h into a fresh temp dir; returns it.
std::string WriteSyntheticImages(int count, int w, int h, int seed);

// A recipe for the tiny preset on `data_dir`, writing into `run_dir`.
Recipe TinyRecipe(const std::string& stage, const std::string& data_dir,
                  const std::string& run_dir);

}  // namespace codiff::training::testing
