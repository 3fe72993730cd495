// What one restore will cost, known from the image header alone (before any
// decoding), and the budgets that admission charges it to: memory (bytes
// held from admission until the answer is sent) and compute (padded tile
// pixels the model has yet to run).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/pipeline/tile_plan.h"

namespace codiff::runtime {

struct RequestCost {
  int64_t pixels = 0;         // of the image
  int64_t padded_pixels = 0;  // of its tiles: what the model computes
  int tiles = 0;
  int64_t memory_bytes = 0;  // held while the request is in the server
};

// Host bytes per padded tile pixel while a request is prepared, waiting and
// finished: the decoded image (3), its float copy (12), tiles in and out
// (2 x 12), the blend accumulators (16), the restored float image and the
// colour fix's temporaries (~36). For scale: eight 4000x4000 JPEGs admitted
// and decoded at once took the bundled model's server from 0.72 to 6.2 GB
// (~43 B per pixel) before any of them computed.
constexpr int64_t kBytesPerPaddedPixel = 96;

// Tiling a very thin image pads each tile's short side up to at least 64
// pixels, so a 1x16384 image would compute 600x its pixels. A request whose
// tiles hold more than this many times its pixels, and more than one full
// tile, is refused.
constexpr double kMaxTileAmplification = 4.0;

// The cost of restoring a width x height image with `tiles`; InvalidArgument
// (naming the sizes) for an image whose tiling would amplify its pixels
// beyond kMaxTileAmplification. `encoded_bytes`: the request's image, held
// until the answer.
absl::StatusOr<RequestCost> EstimateRestoreCost(int width, int height,
                                                const pipeline::TileConfig& tiles,
                                                int64_t encoded_bytes);

// A budget of memory or compute shared by concurrent requests; Acquire
// refuses (false) what would take the total above the limit. Thread-safe.
class SharedBudget {
 public:
  explicit SharedBudget(int64_t limit) : limit_(limit) {}
  bool Acquire(int64_t amount);
  void Release(int64_t amount);
  int64_t used() const;
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  mutable std::mutex mutex_;
  int64_t used_ = 0;
};

// Recent model throughput in padded pixels per second (exponentially
// weighted over batches), to estimate how long queued work takes.
class ThroughputEstimate {
 public:
  void Record(int64_t padded_pixels, double seconds);
  // 0 until the first batch.
  double pixels_per_second() const;
  // Seconds to compute `padded_pixels` at the recent rate; 0 while unknown.
  double SecondsFor(int64_t padded_pixels) const;

 private:
  mutable std::mutex mutex_;
  double rate_ = 0;
};

}  // namespace codiff::runtime
