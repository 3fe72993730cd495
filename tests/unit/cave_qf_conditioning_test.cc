// CaVE's optional QF conditioning of the restoring decoder (FiLM from an
// embedding of the quality): zero-initialised so an unconditioned
// checkpoint keeps its function, then steered by the quality it is given.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/cave.h"
#include "core/models/model_architecture.h"

namespace codiff::models {
namespace {

CaVEConfig TinyConfig(bool conditioned) {
  CaVEConfig config = PresetArchitecture("tiny")->cave;
  config.global_residual = true;
  config.qf_conditioning = conditioned;
  return config;
}

// Copies every tensor `from` has into `into` (by name).
void CopyShared(CaVE& into, CaVE& from) {
  torch::NoGradGuard no_grad;
  auto src = from->named_parameters();
  for (auto& item : into->named_parameters()) {
    if (src.contains(item.key())) item.value().copy_(src[item.key()]);
  }
  auto src_buffers = from->named_buffers();
  for (auto& item : into->named_buffers()) {
    if (src_buffers.contains(item.key())) item.value().copy_(src_buffers[item.key()]);
  }
}

void PerturbAll(CaVE& cave) {
  torch::NoGradGuard no_grad;
  for (auto& p : cave->parameters()) p.add_(torch::randn_like(p) * 0.05);
}

TEST(CaveQfConditioningTest, StartsAsTheUnconditionedFunction) {
  torch::manual_seed(3);
  CaVE plain(TinyConfig(false));
  PerturbAll(plain);  // a "trained" tail instead of the zero one
  CaVE conditioned(TinyConfig(true));
  CopyShared(conditioned, plain);
  plain->eval();
  conditioned->eval();
  int64_t extra = 0;
  for (const auto& item : conditioned->named_parameters()) {
    if (item.key().rfind("qf_embed.", 0) == 0) extra += item.value().numel();
  }
  EXPECT_GT(extra, 0);
  EXPECT_EQ(plain->named_parameters().size() + 10, conditioned->named_parameters().size());

  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 64});
  const torch::Tensor quality = torch::tensor({{0.9}, {0.2}});
  const torch::Tensor a = plain->forward(x).first;
  const torch::Tensor b = conditioned->forward(x, nullptr, quality).first;
  EXPECT_TRUE(torch::allclose(a, b, 0, 1e-6));
}

TEST(CaveQfConditioningTest, TheGivenQualitySteersTheRestorationOnly) {
  torch::manual_seed(4);
  CaVE cave(TinyConfig(true));
  PerturbAll(cave);  // films no longer zero
  cave->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({1, 3, 64, 64});
  const auto low = cave->RestoreAndEncode(x, torch::tensor({{0.9}}));
  const auto high = cave->RestoreAndEncode(x, torch::tensor({{0.1}}));
  EXPECT_GT((low.restored - high.restored).abs().max().item<double>(), 1e-4);
  // The encoder, tokens and QF head never see the given quality.
  EXPECT_TRUE(torch::equal(low.tokens, high.tokens));
  EXPECT_TRUE(torch::equal(low.qf, high.qf));
  // Without a quality the head's own estimate conditions the decoder.
  const auto own = cave->RestoreAndEncode(x);
  const auto told = cave->RestoreAndEncode(x, own.qf);
  EXPECT_TRUE(torch::allclose(own.restored, told.restored, 0, 1e-6));
  // forward and RestoreAndEncode agree for a size both take.
  EXPECT_TRUE(torch::allclose(cave->forward(x, nullptr, torch::tensor({{0.9}})).first, low.restored,
                              0, 1e-5));
  // One value per batch item, or one for all.
  EXPECT_THROW(cave->forward(torch::rand({3, 3, 64, 64}), nullptr, torch::rand({2, 1})),
               c10::Error);
}

TEST(CaveQfConditioningTest, ModelYamlRoundTripsTheFlag) {
  ModelArchitecture arch = *PresetArchitecture("small");
  arch.cave.qf_conditioning = true;
  auto back = ArchitectureFromJson(ArchitectureToJson(arch));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->cave.qf_conditioning);
  EXPECT_FALSE(PresetArchitecture("small")->cave.qf_conditioning);
  EXPECT_FALSE(CaVEConfig::Reference().qf_conditioning);
}

}  // namespace
}  // namespace codiff::models
