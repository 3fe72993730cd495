#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/lora_injection.h"
#include "core/models/lora_layers.h"
#include "core/weights/state_dict.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

// A toy network with the layer names the reference targets use, plus one
// (time_emb_proj) that must never be adapted.
struct ToyBlockImpl : torch::nn::Module {
  ToyBlockImpl() {
    conv1 = register_module("conv1", LoraCompatibleConv2d(4, 8, /*kernel_size=*/3, /*stride=*/1,
                                                          /*padding=*/1));
    downsample = register_module(
        "downsamplers", torch::nn::ModuleList(LoraCompatibleConv2d(8, 8, 3, /*stride=*/2, 1)));
    time_emb_proj = register_module("time_emb_proj", torch::nn::Linear(8, 8));
    to_q = register_module("to_q", LoraCompatibleLinear(8, 6, /*bias=*/false));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = conv1->forward(x);
    h = downsample[0]->as<LoraCompatibleConv2dImpl>()->forward(h);
    h = h.flatten(2).transpose(1, 2);  // [B, tokens, 8]
    return to_q->forward(time_emb_proj->forward(h));
  }
  LoraCompatibleConv2d conv1{nullptr};
  torch::nn::ModuleList downsample{nullptr};
  torch::nn::Linear time_emb_proj{nullptr};
  LoraCompatibleLinear to_q{nullptr};
};
TORCH_MODULE(ToyBlock);

void RandomizeAdapters(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  // B starts at zero, which would make every merge test pass trivially.
  for (auto& p : LoraParameters(model)) p.normal_(0.0, 0.2);
}

TEST(LoraTest, InjectsOnlyTargetLayersWithReferenceNames) {
  torch::manual_seed(0);
  ToyBlock toy;
  auto adapted = InjectLora(*toy, ReferenceUNetLoraTargets(), {/*rank=*/4, /*alpha=*/2.0});
  // The toy's sampler conv is "downsamplers.0", not diffusers' "downsamplers.0.conv": no match.
  EXPECT_EQ(adapted, (std::vector<std::string>{"conv1", "to_q"}));
  NamedTensors keys = StateDictOf(*toy);
  std::vector<std::string> names;
  for (auto& [name, t] : keys) names.push_back(name);
  EXPECT_NE(std::find(names.begin(), names.end(), "to_q.lora_A.weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "conv1.lora_B.weight"), names.end());
  for (auto& name : names) EXPECT_EQ(name.find("time_emb_proj.lora"), std::string::npos) << name;
  // rank 4: conv1 A 4x4x3x3 + B 8x4x1x1; to_q A 4x8 + B 6x4.
  EXPECT_EQ(CountLoraParameters(*toy), (4 * 4 * 9 + 8 * 4) + (4 * 8 + 6 * 4));
}

TEST(LoraTest, FreshAdapterIsAnIdentityChange) {
  torch::manual_seed(1);
  ToyBlock toy;
  torch::Tensor x = torch::randn({2, 4, 8, 8});
  torch::Tensor before = toy->forward(x);
  InjectLora(*toy, ReferenceUNetLoraTargets(), {});
  EXPECT_TRUE(torch::equal(toy->forward(x), before));
}

TEST(LoraTest, MergedOutputEqualsUnmergedOutput) {
  torch::manual_seed(2);
  ToyBlock toy;
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({2, 4, 8, 8});
  torch::Tensor without_adapter = toy->forward(x);
  InjectLora(*toy, ReferenceUNetLoraTargets(), {/*rank=*/4, /*alpha=*/8.0});
  RandomizeAdapters(*toy);
  torch::Tensor unmerged = toy->forward(x);
  // The adapter must actually change the output, or the comparison proves nothing.
  EXPECT_GT(testing::MaxAbsDiff(unmerged, without_adapter), 1e-2);
  MergeLora(*toy);
  EXPECT_TENSOR_NEAR("lora merged vs unmerged", toy->forward(x), unmerged, 1e-5);
  UnmergeLora(*toy);
  EXPECT_TENSOR_NEAR("lora unmerged again", toy->forward(x), unmerged, 1e-5);
}

TEST(LoraTest, MergeAndRemoveLeavesPlainKeysAndSameOutput) {
  torch::manual_seed(3);
  ToyBlock toy;
  InjectLora(*toy, ReferenceUNetLoraTargets(), {4, 4.0});
  RandomizeAdapters(*toy);
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({1, 4, 8, 8});
  torch::Tensor expected = toy->forward(x);
  MergeAndRemoveLora(*toy);
  EXPECT_EQ(CountLoraParameters(*toy), 0);
  for (auto& [name, t] : StateDictOf(*toy)) EXPECT_EQ(name.find("lora"), std::string::npos) << name;
  EXPECT_TENSOR_NEAR("lora merge-and-remove", toy->forward(x), expected, 1e-5);
}

TEST(LoraTest, VaeTargetsCoverEncoderAndQuantConvOnly) {
  const LoraTargetSet vae = ReferenceVaeLoraTargets();
  EXPECT_TRUE(MatchesLoraTarget("encoder.down_blocks.0.resnets.0.conv1", vae));
  EXPECT_TRUE(MatchesLoraTarget("encoder.mid_block.attentions.0.to_q", vae));
  EXPECT_TRUE(MatchesLoraTarget("encoder.conv_in", vae));
  EXPECT_TRUE(MatchesLoraTarget("quant_conv", vae));
  EXPECT_FALSE(MatchesLoraTarget("post_quant_conv", vae));
  EXPECT_FALSE(MatchesLoraTarget("decoder.up_blocks.0.resnets.0.conv1", vae));
  EXPECT_FALSE(MatchesLoraTarget("decoder.conv_out", vae));
  const LoraTargetSet unet = ReferenceUNetLoraTargets();
  EXPECT_TRUE(
      MatchesLoraTarget("down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj", unet));
  EXPECT_TRUE(MatchesLoraTarget("up_blocks.1.upsamplers.0.conv", unet));
  EXPECT_FALSE(MatchesLoraTarget("down_blocks.0.resnets.0.time_emb_proj", unet));
  EXPECT_FALSE(MatchesLoraTarget("time_embedding.linear_1", unet));
  EXPECT_FALSE(MatchesLoraTarget("down_blocks.0.resnets.0.norm1", unet));
}

}  // namespace
}  // namespace codiff::models
