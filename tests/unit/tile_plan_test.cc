#include "core/pipeline/tile_plan.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image/image.h"
#include "core/pipeline/image_tensor.h"
#include "core/pipeline/tile_blender.h"
#include "tests/test_support.h"

namespace codiff::pipeline {
namespace {

using ::codiff::testing::MaxAbsDiff;

image::Image RandomImage(int width, int height, uint64_t seed) {
  image::Image img(width, height, 3);
  uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (auto& v : img.data) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    v = static_cast<uint8_t>(state >> 56);
  }
  return img;
}

// Runs `model` on every tile separately and blends.
template <typename Model>
torch::Tensor Tiled(const torch::Tensor& image, const TilePlan& plan, Model model) {
  const torch::Tensor tiles = ExtractTiles(image, plan);
  TileBlender blender(plan, static_cast<int>(image.size(1)));
  for (int64_t i = 0; i < tiles.size(0); ++i) {
    blender.Add(static_cast<int>(i), model(tiles.slice(0, i, i + 1))[0]);
  }
  return blender.Result();
}

TEST(TilePlanTest, RejectsBadConfigs) {
  EXPECT_FALSE(PlanTiles(100, 100, {48, 8}).ok());   // not a multiple of 32
  EXPECT_FALSE(PlanTiles(100, 100, {32, 8}).ok());   // < 64
  EXPECT_FALSE(PlanTiles(100, 100, {64, 32}).ok());  // overlap >= tile / 2
  EXPECT_FALSE(PlanTiles(100, 100, {64, -1}).ok());
  EXPECT_FALSE(PlanTiles(0, 100, {64, 16}).ok());
  EXPECT_TRUE(PlanTiles(100, 100, {64, 31}).ok());
}

TEST(TilePlanTest, SmallImagesUseOneBucketedTile) {
  for (auto [w, h, expected] : std::vector<std::tuple<int, int, int>>{{1, 1, 64},
                                                                      {31, 17, 64},
                                                                      {65, 3, 96},
                                                                      {97, 3, 128},
                                                                      {129, 3, 160},
                                                                      {200, 256, 256},
                                                                      {300, 20, 320},
                                                                      {321, 20, 384},
                                                                      {500, 20, 512},
                                                                      {512, 512, 512}}) {
    auto plan = PlanTiles(w, h, {512, 64});
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->tile_size, expected) << w << "x" << h;
    EXPECT_EQ(plan->tiles.size(), 1u) << w << "x" << h;
    EXPECT_EQ(plan->padded_width, expected);
  }
}

TEST(TilePlanTest, TilesCoverTheImageOnTheBlockGrid) {
  auto plan = PlanTiles(3000, 2000, {512, 64});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->tile_size, 512);
  EXPECT_EQ(plan->overlap, 64);
  EXPECT_EQ(plan->tiles_x, 7);  // 1 + ceil((3000 - 512) / 448)
  EXPECT_EQ(plan->tiles_y, 5);
  EXPECT_GE(plan->padded_width, 3000);
  EXPECT_GE(plan->padded_height, 2000);
  for (const Tile& t : plan->tiles) {
    EXPECT_EQ(t.x % 8, 0);
    EXPECT_EQ(t.y % 8, 0);
  }
  // An overlap that makes the stride off-grid is widened, never narrowed.
  auto odd = PlanTiles(300, 300, {64, 13});
  ASSERT_TRUE(odd.ok());
  EXPECT_EQ(odd->overlap, 16);
}

TEST(TilePlanTest, WeightsArePositiveAndSumToOne) {
  auto plan = PlanTiles(300, 200, {64, 16});
  ASSERT_TRUE(plan.ok());
  torch::Tensor total = torch::zeros({plan->padded_height, plan->padded_width});
  for (size_t i = 0; i < plan->tiles.size(); ++i) {
    const Tile& t = plan->tiles[i];
    total.slice(0, t.y, t.y + 64).slice(1, t.x, t.x + 64) +=
        TileWeights(*plan, static_cast<int>(i));
  }
  const torch::Tensor inside = total.slice(0, 0, 200).slice(1, 0, 300);
  EXPECT_LE(MaxAbsDiff(inside, torch::ones_like(inside)), 1e-6);
}

TEST(TilePlanTest, ReflectPadHandlesPadsLargerThanTheImage) {
  const torch::Tensor row = torch::tensor({0.f, 1.f, 2.f}).view({1, 1, 1, 3});
  const torch::Tensor padded = ReflectPadBottomRight(row, 2, 6);
  EXPECT_EQ(padded.sizes(), (std::vector<int64_t>{1, 1, 3, 9}));
  const std::vector<float> expected = {0, 1, 2, 1, 0, 1, 2, 1, 0};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(padded[0][0][2][i].item<float>(), expected[i]) << i;
}

// Identity model: the blend must give back the input (exactly, once in 8 bits).
TEST(TileBlenderTest, IdentityRoundTripIsExact) {
  struct Case {
    int w, h;
    TileConfig config;
  };
  const std::vector<Case> cases = {{1, 1, {512, 64}},       {31, 17, {512, 64}},
                                   {1024, 1024, {512, 64}}, {1024, 1024, {128, 32}},
                                   {3000, 2000, {512, 64}}, {37, 301, {64, 16}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h));
    const image::Image img = RandomImage(c.w, c.h, c.w * 7 + c.h);
    const torch::Tensor x = ImageToTensor(img);
    auto plan = PlanTiles(c.w, c.h, c.config);
    ASSERT_TRUE(plan.ok());
    const torch::Tensor y = Tiled(x, *plan, [](const torch::Tensor& t) { return t; });
    EXPECT_LE(MaxAbsDiff(y, x), 1e-6);
    auto back = TensorToImage(y);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(back->data == img.data);
  }
}

// A local model (receptive field 5x5, radius 2, inside the zero-weight margin
// of the overlap) must give the same output tiled as untiled.
TEST(TileBlenderTest, LocalConvolutionMatchesUntiled) {
  torch::manual_seed(3);
  const torch::Tensor kernel = torch::randn({3, 3, 5, 5}) * 0.1;
  auto conv = [&](const torch::Tensor& t) {
    return torch::conv2d(t, kernel, {}, /*stride=*/1, /*padding=*/2);
  };
  // 208 = 64 + 3 * 48 and 160 = 64 + 2 * 48: the tiles end exactly on the
  // image, so the untiled run on the image itself is the reference.
  {
    const torch::Tensor x = torch::rand({1, 3, 160, 208});
    auto plan = PlanTiles(208, 160, {64, 16});
    ASSERT_TRUE(plan.ok());
    ASSERT_EQ(plan->padded_width, 208);
    ASSERT_EQ(plan->padded_height, 160);
    EXPECT_TENSOR_NEAR("tiled conv 208x160", Tiled(x, *plan, conv), conv(x), 1e-5);
  }
  // Otherwise the tiles see the reflected canvas: compare with the model run
  // on that canvas, cropped.
  for (auto [w, h, config] :
       std::vector<std::tuple<int, int, TileConfig>>{{300, 170, {64, 16}}, {700, 530, {256, 64}}}) {
    const torch::Tensor x = torch::rand({1, 3, h, w});
    auto plan = PlanTiles(w, h, config);
    ASSERT_TRUE(plan.ok());
    const torch::Tensor canvas =
        ReflectPadBottomRight(x, plan->padded_height - h, plan->padded_width - w);
    const torch::Tensor expected = conv(canvas).slice(2, 0, h).slice(3, 0, w);
    EXPECT_TENSOR_NEAR("tiled conv " + std::to_string(w), Tiled(x, *plan, conv), expected, 1e-5);
  }
}

}  // namespace
}  // namespace codiff::pipeline
