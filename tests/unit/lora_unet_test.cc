// LoRA on the real UNet and VAE classes (tiny fixture sizes): the reference
// target sets hit the layers they should, and merging keeps the output.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/autoencoder_kl.h"
#include "core/models/lora_injection.h"
#include "core/models/unet_2d_condition.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

TEST(LoraUNetTest, MergedEqualsUnmergedOnTheUNet) {
  auto config =
      UNet2DConditionConfig::FromJsonFile(testing::TestdataPath("fixtures/unet_tiny/config.json"));
  ASSERT_TRUE(config.ok());
  torch::manual_seed(11);
  UNet2DConditionModel unet(*config);
  unet->eval();
  auto adapted = InjectLora(*unet, ReferenceUNetLoraTargets(), {/*rank=*/4, /*alpha=*/2.0});
  torch::NoGradGuard no_grad;
  for (auto& p : LoraParameters(*unet)) p.normal_(0.0, 0.1);
  torch::Tensor sample = torch::randn({2, 4, 16, 16});
  torch::Tensor t = torch::full({1}, 499.0);
  torch::Tensor ctx = torch::randn({2, 16, 32});
  torch::Tensor unmerged = unet->forward(sample, t, ctx);
  MergeLora(*unet);
  EXPECT_TENSOR_NEAR("unet lora merged vs unmerged", unet->forward(sample, t, ctx), unmerged, 1e-5);

  // Every attention projection, resnet conv, sampler conv, conv_in and conv_out.
  auto has = [&](const std::string& name) {
    return std::find(adapted.begin(), adapted.end(), name) != adapted.end();
  };
  EXPECT_TRUE(has("conv_in"));
  EXPECT_TRUE(has("conv_out"));
  EXPECT_TRUE(has("down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"));
  EXPECT_TRUE(has("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_out.0"));
  EXPECT_TRUE(has("down_blocks.0.attentions.0.proj_in"));
  EXPECT_TRUE(has("mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj"));
  EXPECT_TRUE(has("up_blocks.0.resnets.0.conv_shortcut"));
  EXPECT_TRUE(has("down_blocks.0.downsamplers.0.conv"));
  EXPECT_TRUE(has("up_blocks.0.upsamplers.0.conv"));
  for (const auto& name : adapted) {
    EXPECT_EQ(name.find("time_emb"), std::string::npos) << name;
  }
}

TEST(LoraUNetTest, VaeAdaptersOnlyOnTheEncoderSide) {
  auto config =
      AutoencoderKLConfig::FromJsonFile(testing::TestdataPath("fixtures/vae_tiny/config.json"));
  ASSERT_TRUE(config.ok());
  AutoencoderKL vae(*config);
  auto adapted = InjectLora(*vae, ReferenceVaeLoraTargets(), {4, 2.0});
  ASSERT_FALSE(adapted.empty());
  bool quant_conv = false;
  for (const auto& name : adapted) {
    EXPECT_TRUE(name.rfind("encoder.", 0) == 0 || name == "quant_conv") << name;
    quant_conv = quant_conv || name == "quant_conv";
  }
  EXPECT_TRUE(quant_conv);
}

}  // namespace
}  // namespace codiff::models
