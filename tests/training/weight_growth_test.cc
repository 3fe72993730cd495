// GrowModuleWeights: a wider CaVE initialised from a narrower one computes
// the same restoration, QF and tokens; shrinking and foreign files are refused.
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/cave.h"
#include "training/checkpoint.h"
#include "training/weight_growth.h"

namespace codiff::training {
namespace {

models::CaVEConfig Config(std::vector<int64_t> widths) {
  models::CaVEConfig c;
  c.widths = std::move(widths);
  c.blocks_per_stage = 1;
  c.global_residual = true;
  c.restoration_plus_one = false;
  c.qf_head_negative_slope = 0.1;
  return c;
}

// Every parameter and BatchNorm statistic away from its default, so a
// misplaced slice or a missed zero block shows in the outputs (a fresh
// residual CaVE has a zero tail and would return its input whatever).
void Randomise(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.normal_(0.0, 0.2);
  for (const auto& b : m.named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) {
      b.value().uniform_(0.5, 2.0);
    } else if (b.key().find("running_mean") != std::string::npos) {
      b.value().normal_(0.0, 0.2);
    }
  }
}

std::string TempFile(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + std::to_string(::getpid()) + ".safetensors"))
      .string();
}

TEST(WeightGrowthTest, AWiderCaveStartsAsTheSameFunction) {
  torch::manual_seed(1);
  models::CaVE small(Config({8, 16, 32, 32}));
  Randomise(*small);
  const std::string file = TempFile("grow_small");
  ASSERT_TRUE(SaveModuleWeights(file, *small).ok());

  models::CaVE wide(Config({16, 24, 32, 32}));
  ASSERT_TRUE(GrowModuleWeights(file, *wide).ok());
  small->eval();
  wide->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 64});
  const models::CaVERestoration a = small->RestoreAndEncode(x);
  const models::CaVERestoration b = wide->RestoreAndEncode(x);
  // Not the identity (the randomised tail makes a real residual) ...
  EXPECT_GT((a.restored - x).abs().max().item<float>(), 1e-2);
  // ... and the same outputs from the wider network.
  // Within float32 rounding: wider convolutions sum in another order, and
  // randomised weights make the activations large.
  auto same = [](const torch::Tensor& p, const torch::Tensor& q) {
    const double scale = p.abs().max().item<double>() + 1.0;
    const double diff = (p - q).abs().max().item<double>();
    EXPECT_LT(diff, 1e-5 * scale) << "max |difference| " << diff << " at scale " << scale;
    return diff < 1e-5 * scale;
  };
  same(a.restored, b.restored);
  same(a.qf, b.qf);
  same(a.tokens, b.tokens);

  // The zeroed block is what keeps the new channels out of the old outputs:
  // filled, the restoration moves (the test can fail).
  wide->named_parameters()["m_tail.weight"].narrow(1, 8, 8).fill_(0.1f);
  const models::CaVERestoration moved = wide->RestoreAndEncode(x);
  const double scale = a.restored.abs().max().item<double>() + 1.0;
  EXPECT_GT((a.restored - moved.restored).abs().max().item<double>(), 1e-3 * scale);
  std::remove(file.c_str());
}

TEST(WeightGrowthTest, RefusesShrinkingAndForeignFiles) {
  torch::manual_seed(2);
  models::CaVE wide(Config({16, 24, 32, 32}));
  const std::string file = TempFile("grow_wide");
  ASSERT_TRUE(SaveModuleWeights(file, *wide).ok());
  models::CaVE small(Config({8, 16, 32, 32}));
  const torch::Tensor before = small->named_parameters()["m_head.weight"].clone();
  const absl::Status shrink = GrowModuleWeights(file, *small);
  EXPECT_EQ(shrink.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(shrink.message()).find("does not fit"), std::string::npos) << shrink;
  EXPECT_TRUE(torch::equal(before, small->named_parameters()["m_head.weight"]))
      << "a refused file must leave the module as it was";

  // A network with an extra block per stage lacks nothing in the file but
  // has tensors the file lacks.
  models::CaVEConfig deeper = Config({16, 24, 32, 32});
  deeper.blocks_per_stage = 2;
  models::CaVE deep(deeper);
  EXPECT_FALSE(GrowModuleWeights(file, *deep).ok());
  EXPECT_FALSE(GrowModuleWeights(TempFile("missing"), *small).ok());
  std::remove(file.c_str());
}

}  // namespace
}  // namespace codiff::training
