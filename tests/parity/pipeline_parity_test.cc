// The whole one-step path (CaVE -> projection -> UNet at T_L -> x0 -> VAE
// decode) over the tiny fixture parts, against the reference pipeline.
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/models/one_step_generator.h"
#include "core/weights/state_dict.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

nlohmann::json ReadJson(const std::string& relative) {
  std::ifstream in(testing::TestdataPath(relative));
  return nlohmann::json::parse(in);
}

void LoadPart(torch::nn::Module& module, const std::string& relative) {
  TensorMap tensors = testing::LoadTestTensors(relative);
  auto report = LoadStateDictStrict(module, tensors);
  ASSERT_TRUE(report.ok()) << relative << ": " << report.status();
  EXPECT_TRUE(report->unused.empty()) << relative << ": " << report->Summary();
}

class PipelineParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelArchitecture arch;
    arch.preset = "fixture";
    auto cave = CaVEConfig::FromJson(ReadJson("fixtures/cave/config.json"));
    auto unet = UNet2DConditionConfig::FromJsonFile(
        testing::TestdataPath("fixtures/unet_tiny/config.json"));
    auto vae =
        AutoencoderKLConfig::FromJsonFile(testing::TestdataPath("fixtures/vae_tiny/config.json"));
    ASSERT_TRUE(cave.ok() && unet.ok() && vae.ok());
    arch.cave = *cave;
    arch.unet = *unet;
    arch.vae = *vae;
    ASSERT_TRUE(arch.Validate().ok());
    generator_ = OneStepGenerator(arch);
    LoadPart(*generator_->cave(), "fixtures/cave/weights.safetensors");
    LoadPart(*generator_->proj(), "fixtures/pipeline_tiny/proj.safetensors");
    LoadPart(*generator_->unet(), "fixtures/unet_tiny/weights.safetensors");
    LoadPart(*generator_->vae(), "fixtures/vae_tiny/weights.safetensors");
    generator_->eval();
    testing::MoveToTestDevice(*generator_);
    io_ = testing::OnTestDevice(testing::LoadTestTensors("fixtures/pipeline_tiny/io.safetensors"));
  }
  OneStepGenerator generator_{nullptr};
  TensorMap io_;
};

TEST_F(PipelineParityTest, OneStepPathMatchesTheReference) {
  torch::NoGradGuard no_grad;
  Trace trace;
  torch::Tensor out = generator_->forward(io_.at("x"), {}, &trace);
  using testing::Tolerance;
  EXPECT_TENSOR_NEAR("pipeline ctx", trace.at("ctx"), io_.at("ctx"), Tolerance(2e-5));
  EXPECT_TENSOR_NEAR("pipeline z_L", trace.at("z_L"), io_.at("z_L"), Tolerance(2e-5));
  EXPECT_TENSOR_NEAR("pipeline eps", trace.at("eps"), io_.at("eps"), Tolerance(2e-5));
  EXPECT_TENSOR_NEAR("pipeline z_H", trace.at("z_H"), io_.at("z_H"), Tolerance(1e-4));
  EXPECT_TENSOR_NEAR("pipeline out", out, io_.at("out"), Tolerance(2e-4));
  EXPECT_TENSOR_NEAR("pipeline emb", generator_->cave()->VisualEmbedding(io_.at("x")),
                     io_.at("emb"), Tolerance(2e-5));
}

TEST_F(PipelineParityTest, SeededPosteriorSamplingIsReproducibleAndDiffersFromTheMean) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = io_.at("x");
  GenerateOptions seeded;
  seeded.posterior_seeds = {7u};
  torch::Tensor a = generator_->forward(x, seeded);
  torch::Tensor b = generator_->forward(x, seeded);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_GT(testing::MaxAbsDiff(a, generator_->forward(x)), 1e-4);
}

}  // namespace
}  // namespace codiff::models
