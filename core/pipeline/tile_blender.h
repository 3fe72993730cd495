// Accumulates tile outputs with feathered weights and normalises.
#pragma once

#include <torch/types.h>

#include "core/pipeline/tile_plan.h"

namespace codiff::pipeline {

// Each tile's weight ramps up linearly across the overlap on sides that have
// a neighbour, and is 1 elsewhere (also on the image border, where no other
// tile covers the pixels). The ramp never reaches zero, so every image pixel
// has positive total weight and Result() equals the input exactly when the
// tiles are unmodified.
class TileBlender {
 public:
  explicit TileBlender(const TilePlan& plan, int channels = 3);

  // tile: [C, T, T] (or [1, C, T, T]); any device, accumulated as float32 on the CPU.
  void Add(int tile_index, const torch::Tensor& tile);
  // [1, C, H, W] cropped to the image.
  torch::Tensor Result() const;

 private:
  TilePlan plan_;
  torch::Tensor sum_;     // [C, Hp, Wp]
  torch::Tensor weight_;  // [1, Hp, Wp]
};

// The per-tile weight map [T, T] for tile `index` of `plan`.
torch::Tensor TileWeights(const TilePlan& plan, int index);

}  // namespace codiff::pipeline
