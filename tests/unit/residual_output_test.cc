// The small preset's residual paths: an untrained CaVE restorer and an
// untrained generator are the identity (they start from the JPEG), a trained
// correction is added to the input, the flags survive model.yaml, and the
// reference-shaped presets keep the paper's non-residual outputs.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/model_architecture.h"
#include "core/models/one_step_generator.h"
#include "core/weights/model_folder.h"

namespace codiff::models {
namespace {

ModelArchitecture SmallWithTinyWidths() {
  // The small preset's flags on tiny widths, so the test stays fast.
  ModelArchitecture a = *PresetArchitecture("tiny");
  const ModelArchitecture small = *PresetArchitecture("small");
  a.cave.global_residual = small.cave.global_residual;
  a.cave.restoration_plus_one = small.cave.restoration_plus_one;
  a.residual_output = small.residual_output;
  a.latent_residual = small.latent_residual;
  a.refine_restoration = small.refine_restoration;
  return a;
}

TEST(ResidualOutputTest, SmallPresetIsResidualAndReferencePresetsAreNot) {
  const ModelArchitecture small = *PresetArchitecture("small");
  EXPECT_TRUE(small.residual_output);
  EXPECT_TRUE(small.latent_residual);
  EXPECT_TRUE(small.refine_restoration);
  EXPECT_TRUE(small.cave.global_residual);
  for (const char* name : {"sd21", "tiny"}) {
    const ModelArchitecture a = *PresetArchitecture(name);
    EXPECT_FALSE(a.residual_output) << name;
    EXPECT_FALSE(a.latent_residual) << name;
    EXPECT_FALSE(a.refine_restoration) << name;
    EXPECT_FALSE(a.cave.global_residual) << name;
  }
}

TEST(ResidualOutputTest, UntrainedResidualModelsAreTheIdentity) {
  torch::manual_seed(3);
  OneStepGenerator g = codiff::BuildGenerator(SmallWithTinyWidths());
  g->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 64}) * 0.8 + 0.1;
  const torch::Tensor y = (g->forward(x) + 1.0) / 2.0;
  EXPECT_LT((y - x).abs().max().item<double>(), 1e-6);
  const torch::Tensor restored = g->cave()->forward(x).first;
  EXPECT_LT((restored - x).abs().max().item<double>(), 1e-6);

  // A non-zero decoder output is added to the input, then clamped.
  for (auto& p : g->vae()->named_parameters()) {
    if (p.key() == "decoder.conv_out.bias") p.value().fill_(0.05);
  }
  const torch::Tensor shifted = (g->forward(x) + 1.0) / 2.0;
  EXPECT_NEAR((shifted - x).mean().item<double>(), 0.025, 1e-5);  // 0.05 on [-1, 1]
}

TEST(ResidualOutputTest, UntrainedRefiningGeneratorReturnsCaveRestorationAndKeepsTheLatent) {
  torch::manual_seed(4);
  OneStepGenerator g = codiff::BuildGenerator(SmallWithTinyWidths());
  g->eval();
  torch::NoGradGuard no_grad;
  // A CaVE that is not the identity: its restoration brightens by 0.1.
  for (auto& p : g->cave()->named_parameters()) {
    if (p.key() == "m_tail.bias") p.value().fill_(0.1);
  }
  const torch::Tensor x = torch::rand({2, 3, 64, 64}) * 0.8;
  const Conditioning cond = g->Condition(x);
  EXPECT_NEAR((cond.image - x).mean().item<double>(), 0.1, 1e-5);
  Trace trace;
  const torch::Tensor y = (g->Generate(cond.image, cond.context, {}, &trace) + 1.0) / 2.0;
  EXPECT_LT((y - cond.image).abs().max().item<double>(), 1e-6);
  // latent_residual: the zero-initialised UNet leaves z_H = z_L.
  EXPECT_LT((trace.at("z_H") - trace.at("z_L")).abs().max().item<double>(), 1e-6);
  // forward() refines the restoration, not the JPEG.
  EXPECT_LT(((g->forward(x) + 1.0) / 2.0 - cond.image).abs().max().item<double>(), 1e-6);
  // Odd sizes: the restoration comes back at the input's size.
  const torch::Tensor odd = torch::rand({1, 3, 72, 40});
  EXPECT_EQ(g->Condition(odd).image.sizes(), odd.sizes());
}

TEST(ResidualOutputTest, NonResidualGeneratorDoesNotReturnItsInput) {
  torch::manual_seed(3);
  OneStepGenerator g = codiff::BuildGenerator(*PresetArchitecture("tiny"));
  g->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({1, 3, 64, 64});
  EXPECT_GT(((g->forward(x) + 1.0) / 2.0 - x).abs().mean().item<double>(), 1e-2);
}

TEST(ResidualOutputTest, FlagsRoundTripThroughTheArchitectureJson) {
  const ModelArchitecture a = SmallWithTinyWidths();
  auto back = ArchitectureFromJson(ArchitectureToJson(a));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->residual_output);
  EXPECT_TRUE(back->latent_residual);
  EXPECT_TRUE(back->refine_restoration);
  EXPECT_TRUE(back->cave.global_residual);
  EXPECT_FALSE(back->cave.restoration_plus_one);
  // Folders written before the flags existed read as the paper's model.
  nlohmann::json old = ArchitectureToJson(*PresetArchitecture("tiny"));
  old.erase("residual_output");
  old.erase("latent_residual");
  old.erase("refine_restoration");
  old["cave"].erase("global_residual");
  auto legacy = ArchitectureFromJson(old);
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_FALSE(legacy->residual_output);
  EXPECT_FALSE(legacy->latent_residual);
  EXPECT_FALSE(legacy->refine_restoration);
  EXPECT_FALSE(legacy->cave.global_residual);
}

}  // namespace
}  // namespace codiff::models
