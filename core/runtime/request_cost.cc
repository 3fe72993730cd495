#include "core/runtime/request_cost.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace codiff::runtime {

namespace {

// The short side above which a long image stays within the amplification:
// each tile of side t advances t - overlap along the long side.
int MinShortSide(const pipeline::TileConfig& tiles) {
  const double t = tiles.tile_size;
  return static_cast<int>(std::ceil(t * t / (kMaxTileAmplification * (t - tiles.overlap))));
}

}  // namespace

absl::StatusOr<RequestCost> EstimateRestoreCost(int width, int height,
                                                const pipeline::TileConfig& tiles,
                                                int64_t encoded_bytes) {
  auto plan = pipeline::PlanTiles(width, height, tiles);
  if (!plan.ok()) return plan.status();
  RequestCost cost;
  cost.pixels = static_cast<int64_t>(width) * height;
  cost.tiles = static_cast<int>(plan->tiles.size());
  cost.padded_pixels = static_cast<int64_t>(cost.tiles) * plan->tile_size * plan->tile_size;
  const int64_t full_tile = static_cast<int64_t>(tiles.tile_size) * tiles.tile_size;
  if (cost.padded_pixels > full_tile &&
      static_cast<double>(cost.padded_pixels) > kMaxTileAmplification * cost.pixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", width, "x", height, " image is too thin to restore efficiently: its ",
                     cost.tiles, " tiles of ", plan->tile_size, "x", plan->tile_size,
                     " would compute ", cost.padded_pixels / std::max<int64_t>(cost.pixels, 1),
                     "x its pixels (at most ", kMaxTileAmplification,
                     "x is accepted); crop it into pieces whose short side is at least about ",
                     MinShortSide(tiles), " pixels"));
  }
  cost.memory_bytes = cost.padded_pixels * kBytesPerPaddedPixel + encoded_bytes;
  return cost;
}

bool SharedBudget::Acquire(int64_t amount) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (used_ + amount > limit_) return false;
  used_ += amount;
  return true;
}

void SharedBudget::Release(int64_t amount) {
  std::lock_guard<std::mutex> lock(mutex_);
  used_ -= amount;
}

int64_t SharedBudget::used() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return used_;
}

void ThroughputEstimate::Record(int64_t padded_pixels, double seconds) {
  if (padded_pixels <= 0 || seconds <= 0) return;
  const double rate = static_cast<double>(padded_pixels) / seconds;
  std::lock_guard<std::mutex> lock(mutex_);
  rate_ = rate_ == 0 ? rate : 0.8 * rate_ + 0.2 * rate;
}

double ThroughputEstimate::pixels_per_second() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rate_;
}

double ThroughputEstimate::SecondsFor(int64_t padded_pixels) const {
  const double rate = pixels_per_second();
  return rate > 0 ? static_cast<double>(padded_pixels) / rate : 0;
}

}  // namespace codiff::runtime
