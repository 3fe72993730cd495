// A memory budget decides how much of an image each stage takes at once.
#include "core/pipeline/working_memory.h"

#include <gtest/gtest.h>

#include <torch/torch.h>
#include <memory>

#include "core/models/model_architecture.h"
#include "core/pipeline/restorer.h"
#include "core/weights/model_folder.h"

namespace codiff::pipeline {
namespace {

TEST(WorkingMemoryTest, Sd21NeedsMoreThanSmallerPresetsAndGrowsWithPixels) {
  const WorkingMemoryModel sd21 = WorkingMemoryOf(*models::PresetArchitecture("sd21"));
  const WorkingMemoryModel tiny = WorkingMemoryOf(*models::PresetArchitecture("tiny"));
  EXPECT_GT(sd21.bytes_per_pixel, tiny.bytes_per_pixel);
  EXPECT_GT(sd21.fixed_bytes, tiny.fixed_bytes);
  EXPECT_LT(WorkingBytesFor(sd21, 1 << 20), WorkingBytesFor(sd21, 4 << 20));
  // MaxPixelsWithin inverts WorkingBytesFor.
  const int64_t fits = MaxPixelsWithin(sd21, int64_t{6} << 30);
  EXPECT_LE(WorkingBytesFor(sd21, fits), int64_t{6} << 30);
  EXPECT_GT(WorkingBytesFor(sd21, fits + 1000), int64_t{6} << 30);
  EXPECT_EQ(MaxPixelsWithin(sd21, 1000), 0);
}

std::unique_ptr<Restorer> TinyRestorer(InferenceStrategy strategy, int64_t working_bytes) {
  torch::manual_seed(0);
  RestorerConfig config;
  config.strategy = strategy;
  config.max_batch_tiles = 8;
  config.working_memory_bytes = working_bytes;
  return std::make_unique<Restorer>(BuildGenerator(*models::PresetArchitecture("tiny")), config);
}

TEST(WorkingMemoryTest, ABudgetLowersTheLimitsUntilTheLargestCallFits) {
  const WorkingMemoryModel model = WorkingMemoryOf(*models::PresetArchitecture("tiny"));
  // Room for the fixed part and two 64 px tiles.
  const int64_t budget = WorkingBytesFor(model, 2 * 64 * 64) + 1000;
  auto per_tile = TinyRestorer(InferenceStrategy::kPerTile, budget);
  EXPECT_EQ(per_tile->config().max_batch_tiles, 2);
  EXPECT_LE(per_tile->PeakWorkingBytes(), budget);

  const int64_t reference_budget = WorkingBytesFor(model, 512 * 512);
  auto reference = TinyRestorer(InferenceStrategy::kReference, reference_budget);
  EXPECT_LE(reference->config().reference_max_pixels, 512 * 512);
  EXPECT_LE(reference->config().vae_tiling.max_untiled_pixels, 512 * 512);
  EXPECT_LE(reference->config().vae_tiling.tile * reference->config().vae_tiling.tile, 512 * 512);
  EXPECT_LE(reference->PeakWorkingBytes(), reference_budget);

  // No budget: the configured limits stay.
  auto unbounded = TinyRestorer(InferenceStrategy::kReference, 0);
  EXPECT_EQ(unbounded->config().reference_max_pixels, RestorerConfig().reference_max_pixels);
  EXPECT_EQ(unbounded->config().max_batch_tiles, 8);
}

}  // namespace
}  // namespace codiff::pipeline
