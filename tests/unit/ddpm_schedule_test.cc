#include "core/models/ddpm_schedule.h"

#include <cstdio>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/test_support.h"

namespace codiff::models {
namespace {

TEST(DdpmScheduleTest, MatchesDiffusersBitForBit) {
  DdpmSchedule schedule;
  TensorMap ref = testing::LoadTestTensors("fixtures/schedule/alphas_cumprod.safetensors");
  EXPECT_TENSOR_NEAR("betas", schedule.betas(), ref.at("betas"), 0.0);
  EXPECT_TENSOR_NEAR("alphas_cumprod", schedule.alphas_cumprod(), ref.at("alphas_cumprod"), 0.0);
}

TEST(DdpmScheduleTest, T499ValuesFromTheReference) {
  DdpmSchedule schedule;
  const double sqrt_ab = schedule.SqrtAlphaBar(499);
  std::printf("[ parity   ] sqrt(alpha_bar_499) = %.8f (ref 0.52694350), |diff| = %.2e\n", sqrt_ab,
              std::abs(sqrt_ab - 0.52694350));
  EXPECT_NEAR(schedule.AlphaBar(499), 0.27766946, 1e-7);
  EXPECT_NEAR(sqrt_ab, 0.52694350, 1e-6);
  EXPECT_NEAR(schedule.SqrtOneMinusAlphaBar(499), 0.84990031, 1e-6);
}

TEST(DdpmScheduleTest, OneStepEqualsTheSchedulerStep) {
  DdpmSchedule schedule;
  TensorMap step = testing::LoadTestTensors("fixtures/schedule/step_t499.safetensors");
  torch::Tensor x0 = schedule.PredictOriginal(step.at("sample"), step.at("model_output"), 499);
  EXPECT_TENSOR_NEAR("pred_original_sample", x0, step.at("pred_original_sample"), 1e-6);
  // prev_sample is x0 plus 1e-10 noise in the reference.
  EXPECT_TENSOR_NEAR("prev_sample", x0, step.at("prev_sample"), 1e-6);
}

}  // namespace
}  // namespace codiff::models
