#include "core/pipeline/color_fix.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/test_support.h"

namespace codiff::pipeline {
namespace {

using ::codiff::testing::MaxAbsDiff;

TEST(ColorFixTest, AdainMatchesSourceStatistics) {
  torch::manual_seed(1);
  const torch::Tensor source = torch::rand({1, 3, 40, 56}) * 0.5 + 0.2;
  const torch::Tensor restored = torch::rand({1, 3, 40, 56}) * 0.3 + 0.5;
  const torch::Tensor out = ApplyColorFix(restored, source, ColorFix::kAdain);
  EXPECT_TENSOR_NEAR("mean", out.mean({2, 3}), source.mean({2, 3}), 1e-5);
  EXPECT_TENSOR_NEAR("std", out.flatten(2).std(2), source.flatten(2).std(2), 1e-4);
  // It only rescales per channel: the restored image's structure survives.
  const torch::Tensor corr = torch::corrcoef(torch::stack({out.flatten(), restored.flatten()}));
  EXPECT_GT(corr[0][1].item<float>(), 0.9);
}

TEST(ColorFixTest, WaveletRemovesAColourCastButKeepsDetail) {
  torch::manual_seed(2);
  // Five levels of dilated blur reach 31 pixels; 128 leaves an inner region
  // untouched by the border.
  const torch::Tensor source = torch::rand({1, 3, 128, 128}) * 0.6 + 0.2;
  // A global colour cast is pure low frequency: the fix must undo it.
  const torch::Tensor cast = torch::tensor({0.1f, -0.05f, 0.08f}).view({1, 3, 1, 1});
  EXPECT_TENSOR_NEAR("cast removed", ApplyColorFix(source + cast, source, ColorFix::kWavelet),
                     source, 1e-5);
  // A checkerboard is pure high frequency (the first blur flattens it): away
  // from the replicate-padded border, the fix must keep it.
  const torch::Tensor checker =
      ((torch::arange(128).view({128, 1}) + torch::arange(128).view({1, 128})) % 2 * 2 - 1)
          .to(torch::kFloat32) *
      0.05;
  const torch::Tensor restored = source + checker;
  const torch::Tensor out = ApplyColorFix(restored, source, ColorFix::kWavelet);
  const auto inner = [](const torch::Tensor& t) { return t.slice(2, 40, 88).slice(3, 40, 88); };
  EXPECT_TENSOR_NEAR("detail kept", inner(out), inner(restored), 1e-5);
  // And the output's low frequencies are the source's.
  EXPECT_TENSOR_NEAR("low freq", inner(WaveletLowFrequency(out)),
                     inner(WaveletLowFrequency(source)), 1e-5);
}

TEST(ColorFixTest, NoneIsIdentityAndTinyImagesWork) {
  const torch::Tensor source = torch::rand({1, 3, 5, 7});
  const torch::Tensor restored = torch::rand({1, 3, 5, 7});
  EXPECT_EQ(MaxAbsDiff(ApplyColorFix(restored, source, ColorFix::kNone), restored), 0.0);
  const torch::Tensor one = torch::rand({1, 3, 1, 1});
  for (ColorFix fix : {ColorFix::kAdain, ColorFix::kWavelet}) {
    const torch::Tensor out = ApplyColorFix(torch::rand({1, 3, 1, 1}), one, fix);
    EXPECT_EQ(out.sizes(), one.sizes());
    EXPECT_FALSE(out.isnan().any().item<bool>());
  }
  // A 1x1 wavelet fix is the source itself (all of it is low frequency).
  EXPECT_LE(MaxAbsDiff(ApplyColorFix(torch::rand({1, 3, 1, 1}), one, ColorFix::kWavelet), one),
            1e-6);
}

}  // namespace
}  // namespace codiff::pipeline
