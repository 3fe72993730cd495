// Splitting an image into equal square tiles, and blending them back.
#pragma once

#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace codiff::pipeline {

struct TileConfig {
  int tile_size = 512;  // pixels, a multiple of 32
  int overlap = 64;     // pixels shared by neighbouring tiles
};

struct Tile {
  int x = 0;  // top-left in the padded image
  int y = 0;
};

// Images smaller than a tile along a side are reflect-padded up to a bucket:
// the smallest of 64, 96, 128, 160, 192, 224, 256, 320, ... (each power of
// two p >= 128, then 1.25p, 1.5p, 1.75p) that holds the longer side, capped
// at tile_size. Larger sides use full tiles. So every tile of a plan is
// square and its side is tile_size or a ladder step, which keeps the number
// of distinct tile shapes across requests small and the padding under 1.56x
// of the area.
struct TilePlan {
  int image_width = 0;
  int image_height = 0;
  int padded_width = 0;  // extent covered by the tiles (>= image size)
  int padded_height = 0;
  int tile_size = 0;  // the side of every tile of this plan (may be < config's)
  // The actual overlap of neighbouring tiles: the stride tile_size - overlap
  // is rounded down to a multiple of 8 so every tile starts on the JPEG 8x8
  // block grid, hence overlap >= the configured one.
  int overlap = 0;
  int tiles_x = 0;  // tiles are stored row-major: index = iy * tiles_x + ix
  int tiles_y = 0;
  std::vector<Tile> tiles;
};

// InvalidArgument for non-positive sizes, tile_size not a multiple of 32 or
// < 64, or overlap outside [0, tile_size / 2).
absl::StatusOr<TilePlan> PlanTiles(int width, int height, const TileConfig& config);

// Cuts [1, C, H, W] into [N, C, T, T]; parts of tiles beyond the image are
// filled by reflection (repeated, so any size works, even 1x1).
torch::Tensor ExtractTiles(const torch::Tensor& image, const TilePlan& plan);

// Reflect-pads [B, C, H, W] to [B, C, H + bottom, W + right] on the bottom
// and right; unlike torch's reflect pad this accepts pads >= the size.
torch::Tensor ReflectPadBottomRight(const torch::Tensor& image, int bottom, int right);

}  // namespace codiff::pipeline
