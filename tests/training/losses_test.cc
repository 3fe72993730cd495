#include "training/losses.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace codiff::training {
namespace {

TEST(TrainingLossesTest, QualityFactorLossUsesTheReferenceTarget) {
  // Targets (100 - QF) / 100: 0.9 and 0.4; errors 0 and 0.1.
  const torch::Tensor pred = torch::tensor({0.9f, 0.5f}).reshape({2, 1});
  const torch::Tensor qf = torch::tensor({10.0f, 60.0f});
  EXPECT_NEAR(QualityFactorLoss(pred, qf).item<double>(), 0.05, 1e-7);
}

TEST(TrainingLossesTest, Stage1ObjectivesCombineAsSpecified) {
  const torch::Tensor restored = torch::zeros({1, 3, 4, 4});
  const torch::Tensor hq = torch::full({1, 3, 4, 4}, 0.5);
  const torch::Tensor pred = torch::tensor({0.9f, 0.5f}).reshape({2, 1});
  const torch::Tensor qf = torch::tensor({10.0f, 60.0f});
  // dual: 0.5 + 0.001 * 0.05
  EXPECT_NEAR(Stage1Loss("dual", restored, hq, pred, qf, 1e-3).total.item<double>(), 0.50005, 1e-7);
  EXPECT_NEAR(Stage1Loss("explicit", restored, hq, pred, qf, 1e-3).total.item<double>(), 0.05,
              1e-7);
  EXPECT_NEAR(Stage1Loss("implicit", restored, hq, pred, qf, 1e-3).total.item<double>(), 0.5, 1e-7);
  EXPECT_THROW(Stage1Loss("both", restored, hq, pred, qf, 1e-3), std::invalid_argument);
  // mse: 0.5^2 + 0.001 * 0.05
  EXPECT_NEAR(Stage1Loss("dual", restored, hq, pred, qf, 1e-3, "mse").total.item<double>(), 0.25005,
              1e-7);
  EXPECT_THROW(Stage1Loss("dual", restored, hq, pred, qf, 1e-3, "huber"), std::invalid_argument);
}

TEST(TrainingLossesTest, LumaWeightedMseWeighsChromaErrorsByAQuarter) {
  const torch::Tensor hq = torch::full({2, 3, 4, 4}, 0.5);
  // An error of 0.1 on all three channels is pure luma: Y = 0.1, Cb = Cr = 0.
  EXPECT_NEAR(LumaWeightedMse(hq + 0.1, hq).item<double>(), 0.01, 1e-7);
  // An error along the Cb axis only: (R, G, B) = Cb * (0, -0.344136, 1.772)
  // (the inverse BT.601 transform) has Y = 0 and Cb = 0.1.
  torch::Tensor cb_error = torch::zeros({2, 3, 4, 4});
  cb_error.select(1, 1).fill_(-0.344136 * 0.1);
  cb_error.select(1, 2).fill_(1.772 * 0.1);
  const torch::Tensor restored = hq + cb_error;
  const double expected = kChromaWeight * 0.01;
  EXPECT_NEAR(LumaWeightedMse(restored, hq).item<double>(), expected, 2e-6);
  // Stage1Loss dispatches to it; the RGB MSE of the same error is larger.
  const torch::Tensor qf = torch::full({2}, 50.0), qf_pred = torch::full({2, 1}, 0.5);
  EXPECT_NEAR(
      Stage1Loss("implicit", restored, hq, qf_pred, qf, 0.0, "mse_luma").restoration.item<double>(),
      expected, 2e-6);
  EXPECT_GT(
      Stage1Loss("implicit", restored, hq, qf_pred, qf, 0.0, "mse").restoration.item<double>(),
      4 * expected);
  EXPECT_THROW(Stage1Loss("implicit", restored, hq, qf_pred, qf, 0.0, "huber"),
               std::invalid_argument);
}

TEST(TrainingLossesTest, BlockEdgeStepMseSeesOnlyStepsAcrossBlockBoundaries) {
  const torch::Tensor hq = torch::rand({1, 3, 16, 16});
  // A uniform error has no steps anywhere.
  EXPECT_NEAR(BlockEdgeStepMse(hq + 0.1, hq).item<double>(), 0.0, 1e-7);
  // An offset of 0.1 on the right-hand block column steps by 0.1 at the
  // boundary between columns 7 and 8 (every row), none across rows: the two
  // directions average to 0.01 / 2.
  torch::Tensor right = hq.clone();
  right.narrow(3, 8, 8).add_(0.1);
  EXPECT_NEAR(BlockEdgeStepMse(right, hq).item<double>(), 0.005, 1e-6);
  // The same offset starting off the grid (column 4) has its step inside a
  // block, which the term ignores; the pixel MSE cannot tell the two apart.
  torch::Tensor inside = hq.clone();
  inside.narrow(3, 4, 12).add_(0.1);
  inside.narrow(3, 12, 4).sub_(0.1);
  EXPECT_NEAR(BlockEdgeStepMse(inside, hq).item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(LumaWeightedMse(inside, hq).item<double>(), LumaWeightedMse(right, hq).item<double>(),
              1e-6);
  // Stage1Loss's "mse_luma_blocks" adds it at kBlockEdgeWeight.
  const torch::Tensor qf = torch::full({1}, 50.0), qf_pred = torch::full({1, 1}, 0.5);
  EXPECT_NEAR(Stage1Loss("implicit", right, hq, qf_pred, qf, 0.0, "mse_luma_blocks")
                  .restoration.item<double>(),
              LumaWeightedMse(right, hq).item<double>() + kBlockEdgeWeight * 0.005, 1e-6);
}

TEST(TrainingLossesTest, SsimOfConstantImagesIsTheLuminanceTerm) {
  // Zero variance leaves (2ab + C1) / (a^2 + b^2 + C1) with C1 = 1e-4:
  // a = 0.2, b = 0.6 -> 0.2401 / 0.4001.
  const torch::Tensor a = torch::full({1, 3, 16, 16}, 0.2, torch::kFloat64);
  const torch::Tensor b = torch::full({1, 3, 16, 16}, 0.6, torch::kFloat64);
  EXPECT_NEAR(Ssim(a, b).item<double>(), 0.2401 / 0.4001, 1e-9);
  EXPECT_NEAR(SsimLoss(a, b).item<double>(), 1.0 - 0.2401 / 0.4001, 1e-9);
  torch::manual_seed(0);
  const torch::Tensor r = torch::rand({2, 3, 20, 20}, torch::kFloat64);
  EXPECT_NEAR(Ssim(r, r).item<double>(), 1.0, 1e-9);
}

TEST(TrainingLossesTest, GanLossesMatchHandValues) {
  // softplus(-0) = ln 2, softplus(-ln 3) = ln(4/3).
  const torch::Tensor fake = torch::tensor({0.0, std::log(3.0)}, torch::kFloat64);
  EXPECT_NEAR(GeneratorGanLoss(fake).item<double>(), (std::log(2.0) + std::log(4.0 / 3.0)) / 2,
              1e-12);
  // BCE(2 -> 1) = ln(1 + e^-2), BCE(-1 -> 0) = ln(1 + e^-1).
  const torch::Tensor real_logits = torch::tensor({2.0}, torch::kFloat64);
  const torch::Tensor fake_logits = torch::tensor({-1.0}, torch::kFloat64);
  EXPECT_NEAR(DiscriminatorLoss(real_logits, fake_logits).item<double>(),
              std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-1.0)), 1e-12);
}

}  // namespace
}  // namespace codiff::training
