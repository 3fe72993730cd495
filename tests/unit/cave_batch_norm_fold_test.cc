// Folding CaVE's BatchNorms into the convolutions (the Restorer does it at
// load) must not change what CaVE computes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/cave.h"
#include "core/models/model_architecture.h"

namespace codiff::models {
namespace {

TEST(CaveBatchNormFoldTest, FoldedCaveComputesTheSameRestorationAndQf) {
  torch::manual_seed(11);
  CaVE cave(PresetArchitecture("tiny")->cave);
  {
    // Non-trivial running statistics and affine parameters, as after training.
    torch::NoGradGuard no_grad;
    for (auto& b : cave->named_buffers()) {
      if (b.key().find("running_mean") != std::string::npos) b.value().uniform_(-0.5, 0.5);
      if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    }
    for (auto& p : cave->named_parameters()) {
      if (p.key().find(".res.1.") != std::string::npos) p.value().uniform_(0.5, 1.5);
    }
  }
  cave->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::rand({2, 3, 64, 96});
  const auto [restored, qf] = cave->forward(x);
  const torch::Tensor conv_before = cave->named_parameters()["m_down1.0.res.0.weight"].clone();
  cave->FoldBatchNorm();
  const auto [folded_restored, folded_qf] = cave->forward(x);
  EXPECT_LT((restored - folded_restored).abs().max().item<double>(), 1e-4);
  EXPECT_LT((qf - folded_qf).abs().max().item<double>(), 1e-5);
  // The fold did rewrite the convolutions (the BatchNorms were not identities).
  EXPECT_GT(
      (cave->named_parameters()["m_down1.0.res.0.weight"] - conv_before).abs().max().item<double>(),
      1e-2);
}

TEST(CaveBatchNormFoldTest, FoldingNeedsEvalMode) {
  CaVE cave(PresetArchitecture("tiny")->cave);
  cave->train();
  EXPECT_THROW(cave->FoldBatchNorm(), c10::Error);
}

}  // namespace
}  // namespace codiff::models
