#include "core/pipeline/tile_plan.h"

#include <algorithm>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::pipeline {
namespace {

// The JPEG block size: tile origins stay on its grid so every tile sees the
// blocking artifacts at the same phase as the whole image does.
constexpr int kBlockAlign = 8;
constexpr int kMinBucket = 64;

// The bucket ladder 64, 96, 128, 160, 192, 224, 256, 320, ... : each power
// of two p >= 128 followed by 1.25p, 1.5p and 1.75p (all multiples of 32).
// Padding wastes at most (1.25)^2 = 1.56x of the area (powers of two alone
// wasted up to 4x, which on a CPU is 4x the time), while the number of
// distinct tile shapes stays logarithmic in the tile size.
int Bucket(int side, int tile_size) {
  if (side <= kMinBucket) return std::min(kMinBucket, tile_size);
  if (side <= 96) return std::min(96, tile_size);
  for (int p = 128;; p *= 2) {
    for (int quarters = 4; quarters < 8; ++quarters) {
      const int bucket = p * quarters / 4;
      if (bucket >= side || bucket >= tile_size) return std::min(bucket, tile_size);
    }
  }
}

// Tile count along one axis for a stride; a side that fits in one tile gets
// exactly one.
int TileCount(int side, int tile, int stride) {
  if (side <= tile) return 1;
  return 1 + (side - tile + stride - 1) / stride;
}

// Source index for each position of a padded axis: mirror reflection without
// repeating the edge (torch's "reflect"), repeated so pads of any size work.
torch::Tensor ReflectIndex(int size, int padded) {
  std::vector<int64_t> index(padded);
  const int period = 2 * (size - 1);
  for (int j = 0; j < padded; ++j) {
    if (period == 0) {
      index[j] = 0;
      continue;
    }
    const int m = j % period;
    index[j] = m < size ? m : period - m;
  }
  return torch::tensor(index, torch::kLong);
}

}  // namespace

absl::StatusOr<TilePlan> PlanTiles(int width, int height, const TileConfig& config) {
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("image size must be positive, got ", width, "x", height));
  }
  if (config.tile_size < 64 || config.tile_size % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tile size must be a multiple of 32 and at least 64, got ", config.tile_size));
  }
  if (config.overlap < 0 || config.overlap >= config.tile_size / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tile overlap must be in [0, ", config.tile_size / 2, "), got ", config.overlap));
  }
  TilePlan plan;
  plan.image_width = width;
  plan.image_height = height;
  plan.tile_size = Bucket(std::max(width, height), config.tile_size);
  const int t = plan.tile_size;
  // t is a multiple of 32 and t - overlap > t / 2, so the rounded stride
  // stays >= t / 2 and the two ramps of a tile never meet.
  const int stride = (t - config.overlap) / kBlockAlign * kBlockAlign;
  plan.overlap = t - stride;
  plan.tiles_x = TileCount(width, t, stride);
  plan.tiles_y = TileCount(height, t, stride);
  plan.padded_width = (plan.tiles_x - 1) * stride + t;
  plan.padded_height = (plan.tiles_y - 1) * stride + t;
  plan.tiles.reserve(static_cast<size_t>(plan.tiles_x) * plan.tiles_y);
  for (int iy = 0; iy < plan.tiles_y; ++iy) {
    for (int ix = 0; ix < plan.tiles_x; ++ix) plan.tiles.push_back({ix * stride, iy * stride});
  }
  return plan;
}

torch::Tensor ReflectPadBottomRight(const torch::Tensor& image, int bottom, int right) {
  torch::Tensor out = image;
  const int h = static_cast<int>(image.size(-2));
  const int w = static_cast<int>(image.size(-1));
  if (bottom > 0) out = out.index_select(-2, ReflectIndex(h, h + bottom).to(image.device()));
  if (right > 0) out = out.index_select(-1, ReflectIndex(w, w + right).to(image.device()));
  return out;
}

torch::Tensor ExtractTiles(const torch::Tensor& image, const TilePlan& plan) {
  TORCH_CHECK(image.dim() == 4 && image.size(0) == 1, "ExtractTiles: expected [1, C, H, W], got ",
              image.sizes());
  TORCH_CHECK(image.size(2) == plan.image_height && image.size(3) == plan.image_width,
              "ExtractTiles: image ", image.sizes(), " does not match the plan's ",
              plan.image_width, "x", plan.image_height);
  const torch::Tensor padded = ReflectPadBottomRight(image, plan.padded_height - plan.image_height,
                                                     plan.padded_width - plan.image_width);
  std::vector<torch::Tensor> tiles;
  tiles.reserve(plan.tiles.size());
  const int t = plan.tile_size;
  for (const Tile& tile : plan.tiles) {
    tiles.push_back(padded[0].slice(1, tile.y, tile.y + t).slice(2, tile.x, tile.x + t));
  }
  return torch::stack(tiles).contiguous();
}

}  // namespace codiff::pipeline
