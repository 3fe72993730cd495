// Admission arithmetic: what a request costs from its header, the budgets it
// is charged to, and the memory limit the server derives them from.
#include "core/runtime/request_cost.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/runtime/memory_limit.h"
#include "tests/test_support.h"

namespace codiff::runtime {
namespace {

const pipeline::TileConfig kTiles{544, 64};

TEST(RequestCostTest, ThinImageIsRefusedAndASquareOfTheSamePixelsIsNot) {
  auto square = EstimateRestoreCost(128, 128, kTiles, 1000);
  ASSERT_TRUE(square.ok()) << square.status();
  EXPECT_EQ(square->pixels, 16384);
  EXPECT_EQ(square->tiles, 1);
  EXPECT_EQ(square->padded_pixels, 128 * 128);
  EXPECT_EQ(square->memory_bytes, 128 * 128 * kBytesPerPaddedPixel + 1000);

  auto thin = EstimateRestoreCost(16384, 1, kTiles, 1000);
  ASSERT_FALSE(thin.ok());
  EXPECT_EQ(thin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(thin.status().message().find("16384x1"), std::string::npos) << thin.status();
  EXPECT_NE(thin.status().message().find("too thin"), std::string::npos) << thin.status();
  EXPECT_NE(thin.status().message().find("at least about 155 pixels"), std::string::npos)
      << thin.status();
  EXPECT_FALSE(EstimateRestoreCost(140, 2000, kTiles, 0).ok());
  EXPECT_FALSE(EstimateRestoreCost(1, 16384, kTiles, 0).ok());
}

TEST(RequestCostTest, SmallAndOrdinaryImagesAreAccepted) {
  // Smaller than one tile: padded to a bucket, however thin.
  EXPECT_TRUE(EstimateRestoreCost(1, 1, kTiles, 0).ok());
  EXPECT_TRUE(EstimateRestoreCost(3, 500, kTiles, 0).ok());
  // Photos and banners whose short side is 240 px: well over the ~155 px
  // that keeps 544 px tiles (stride 480) within 4x.
  for (auto [w, h] : {std::pair{4000, 3000}, {1920, 1080}, {6000, 400}, {240, 2000}}) {
    auto cost = EstimateRestoreCost(w, h, kTiles, 0);
    ASSERT_TRUE(cost.ok()) << w << "x" << h << ": " << cost.status();
    EXPECT_LE(cost->padded_pixels, kMaxTileAmplification * cost->pixels) << w << "x" << h;
  }
}

TEST(RequestCostTest, SharedBudgetRefusesWhatWouldExceedItsLimit) {
  SharedBudget budget(100);
  EXPECT_TRUE(budget.Acquire(60));
  EXPECT_FALSE(budget.Acquire(41));
  EXPECT_TRUE(budget.Acquire(40));
  EXPECT_EQ(budget.used(), 100);
  budget.Release(60);
  EXPECT_TRUE(budget.Acquire(50));
  EXPECT_EQ(budget.used(), 90);
}

TEST(RequestCostTest, ThroughputIsUnknownUntilMeasuredThenWeighted) {
  ThroughputEstimate rate;
  EXPECT_EQ(rate.SecondsFor(1'000'000), 0);
  rate.Record(1'000'000, 2.0);
  EXPECT_DOUBLE_EQ(rate.pixels_per_second(), 500'000);
  EXPECT_DOUBLE_EQ(rate.SecondsFor(1'000'000), 2.0);
  rate.Record(1'000'000, 1.0);  // faster: the estimate moves a fifth of the way
  EXPECT_DOUBLE_EQ(rate.pixels_per_second(), 600'000);
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(MemoryLimitTest, ReadsCgroupV2ThenV1ElsePhysicalMemory) {
  namespace fs = std::filesystem;
  const fs::path v2 = codiff::testing::MakeTempDir("cgroup-v2");
  WriteFile(v2 / "memory.max", "2147483648\n");
  EXPECT_EQ(AvailableMemoryBytes(v2.string()), 2147483648);

  const fs::path v1 = codiff::testing::MakeTempDir("cgroup-v1");
  WriteFile(v1 / "memory" / "memory.limit_in_bytes", "1073741824\n");
  EXPECT_EQ(AvailableMemoryBytes(v1.string()), 1073741824);

  const fs::path none = codiff::testing::MakeTempDir("cgroup-none");
  WriteFile(none / "memory.max", "max\n");
  WriteFile(none / "memory" / "memory.limit_in_bytes", "9223372036854771712\n");  // v1 "none"
  const int64_t physical = AvailableMemoryBytes(none.string());
  EXPECT_GT(physical, int64_t{1} << 28);
  EXPECT_NE(physical, 9223372036854771712);
  EXPECT_GT(ResidentBytes(), 0);
  EXPECT_LT(ResidentBytes(), physical);
  for (const auto& dir : {v2, v1, none}) fs::remove_all(dir);
}

}  // namespace
}  // namespace codiff::runtime
