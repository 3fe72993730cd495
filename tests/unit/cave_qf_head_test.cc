// The QF head's activation: the reference's ReLU, or a leaky ReLU (small
// preset) that keeps a gradient when every unit of the first layer is
// negative, the state in which a ReLU head stops learning for good.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/cave.h"
#include "core/models/model_architecture.h"

namespace codiff::models {
namespace {

double Fc1GradientWithAllUnitsNegative(double slope) {
  torch::manual_seed(2);
  CaVEConfig config = PresetArchitecture("tiny")->cave;
  config.qf_head_negative_slope = slope;
  CaVE cave(config);
  cave->eval();
  auto params = cave->named_parameters();
  // qf_pred: nb blocks, pool, flatten, then the first Linear.
  const std::string fc1 = "qf_pred." + std::to_string(config.blocks_per_stage + 2);
  {
    torch::NoGradGuard no_grad;
    params[fc1 + ".bias"].fill_(-20.0);  // every first-layer unit < 0, sigmoid not saturated
  }
  const torch::Tensor qf = cave->PredictQf(torch::rand({2, 3, 64, 64}));
  (qf - 0.3).abs().mean().backward();
  return params[fc1 + ".weight"].grad().abs().sum().item<double>();
}

TEST(CaveQfHeadTest, LeakyHeadKeepsLearningWhereReluHeadIsDead) {
  EXPECT_EQ(Fc1GradientWithAllUnitsNegative(0.0), 0.0);
  EXPECT_GT(Fc1GradientWithAllUnitsNegative(0.1), 0.0);
}

TEST(CaveQfHeadTest, SmallPresetUsesLeakyHeadAndReferenceDoesNot) {
  EXPECT_GT(PresetArchitecture("small")->cave.qf_head_negative_slope, 0.0);
  EXPECT_EQ(PresetArchitecture("sd21")->cave.qf_head_negative_slope, 0.0);
  EXPECT_EQ(CaVEConfig::Reference().qf_head_negative_slope, 0.0);
}

TEST(CaveQfHeadTest, SlopeRoundTripsAndIsValidated) {
  ModelArchitecture a = *PresetArchitecture("small");
  auto back = ArchitectureFromJson(ArchitectureToJson(a));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_DOUBLE_EQ(back->cave.qf_head_negative_slope, a.cave.qf_head_negative_slope);
  EXPECT_EQ(back->cave.qf_estimate_crop, 128);
  nlohmann::json bad_crop = ArchitectureToJson(a);
  bad_crop["cave"]["qf_estimate_crop"] = 100;
  EXPECT_FALSE(ArchitectureFromJson(bad_crop).ok());
  nlohmann::json bad = ArchitectureToJson(a);
  bad["cave"]["qf_head_negative_slope"] = 1.5;
  EXPECT_FALSE(ArchitectureFromJson(bad).ok());
  nlohmann::json old = ArchitectureToJson(a);
  old["cave"].erase("qf_head_negative_slope");
  EXPECT_EQ(ArchitectureFromJson(old)->cave.qf_head_negative_slope, 0.0);
}

}  // namespace
}  // namespace codiff::models
