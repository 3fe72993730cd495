#include "core/pipeline/tile_blender.h"

#include <torch/torch.h>

namespace codiff::pipeline {
namespace {

// Weights along one axis for tile `index` of `count`. Where a neighbour
// overlaps, the first and last quarter of the overlap get weight 0 (a tile's
// edge pixels are its least reliable: the network saw padding there) and the
// middle half ramps linearly, so the weights of two neighbours sum to exactly
// 1 everywhere. Sides on the image border keep weight 1: no other tile covers
// those pixels.
torch::Tensor AxisWeights(int tile_size, int overlap, int index, int count) {
  std::vector<float> w(tile_size, 1.0f);
  const int margin = overlap / 4;
  const int ramp = overlap - 2 * margin;  // ramp positions: [margin, overlap - margin)
  auto rising = [&](int k) -> float {
    if (k < margin) return 0.0f;
    if (k >= overlap - margin) return 1.0f;
    return static_cast<float>(k - margin + 1) / static_cast<float>(ramp + 1);
  };
  if (overlap > 0) {
    for (int k = 0; k < overlap; ++k) {
      if (index > 0) w[k] *= rising(k);
      if (index < count - 1) w[tile_size - 1 - k] *= rising(k);
    }
  }
  return torch::tensor(w, torch::kFloat32);
}

}  // namespace

torch::Tensor TileWeights(const TilePlan& plan, int index) {
  const int ix = index % plan.tiles_x;
  const int iy = index / plan.tiles_x;
  const torch::Tensor wx = AxisWeights(plan.tile_size, plan.overlap, ix, plan.tiles_x);
  const torch::Tensor wy = AxisWeights(plan.tile_size, plan.overlap, iy, plan.tiles_y);
  return wy.unsqueeze(1) * wx.unsqueeze(0);
}

TileBlender::TileBlender(const TilePlan& plan, int channels) : plan_(plan) {
  sum_ = torch::zeros({channels, plan.padded_height, plan.padded_width}, torch::kFloat32);
  weight_ = torch::zeros({1, plan.padded_height, plan.padded_width}, torch::kFloat32);
}

void TileBlender::Add(int tile_index, const torch::Tensor& tile) {
  TORCH_CHECK(tile_index >= 0 && tile_index < static_cast<int>(plan_.tiles.size()),
              "TileBlender: tile index ", tile_index, " out of range");
  torch::Tensor t = tile.dim() == 4 ? tile.squeeze(0) : tile;
  const int size = plan_.tile_size;
  TORCH_CHECK(t.dim() == 3 && t.size(0) == sum_.size(0) && t.size(1) == size && t.size(2) == size,
              "TileBlender: expected a [", sum_.size(0), ", ", size, ", ", size, "] tile, got ",
              tile.sizes());
  t = t.to(torch::kCPU, torch::kFloat32);
  const torch::Tensor w = TileWeights(plan_, tile_index).unsqueeze(0);
  const Tile& at = plan_.tiles[tile_index];
  sum_.slice(1, at.y, at.y + size).slice(2, at.x, at.x + size).add_(t * w);
  weight_.slice(1, at.y, at.y + size).slice(2, at.x, at.x + size).add_(w);
}

torch::Tensor TileBlender::Result() const {
  // Every image pixel has total weight 1 once all tiles are in; the division
  // keeps partial blends (and rounding) well defined.
  const torch::Tensor out = sum_ / weight_.clamp_min(1e-12f);
  return out.slice(1, 0, plan_.image_height).slice(2, 0, plan_.image_width).unsqueeze(0);
}

}  // namespace codiff::pipeline
