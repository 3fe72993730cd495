// The sd21 recipe's parameter selection on the full-size model: one stage-2
// step with random weights (no SD download) on a 64x64 crop must change only
// LoRA adapters, the projection and the UNet's conv_in. Builds ~1.4 G
// parameters (about 6 GB in fp32 with the discriminator), so it is labelled
// "slow".
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/util/yaml_json.h"
#include "tests/test_support.h"
#include "tests/training/training_test_util.h"
#include "training/data/batch.h"
#include "training/recipe.h"
#include "training/stage2_model.h"
#include "training/stage2_step.h"

namespace codiff::training {
namespace {

// A per-tensor fingerprint that any Adam step changes: a strided sample of
// up to 4096 elements plus the sum (cloning 4 GB of weights is not an option).
torch::Tensor Fingerprint(const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().reshape({-1});
  const int64_t stride = std::max<int64_t>(1, flat.numel() / 4096);
  return torch::cat({flat.slice(0, 0, flat.numel(), stride).to(torch::kFloat64),
                     flat.sum().to(torch::kFloat64).reshape({1})});
}

bool Allowed(const std::string& name) {
  return name.find("lora_A") != std::string::npos || name.find("lora_B") != std::string::npos ||
         name.rfind("proj.", 0) == 0 || name == "unet.conv_in.weight" ||
         name == "unet.conv_in.bias";
}

TEST(Sd21LoraRecipeTest, OneStepChangesOnlyLoraProjectionAndConvIn) {
  // The shipped recipe, with data and output pointed at the test's own.
  const std::string recipe_path =
      std::string(CODIFF_SOURCE_DIR) + "/training/recipes/sd21_stage2_lora.yaml";
  auto json = ReadYamlFileAsJson(recipe_path);
  ASSERT_TRUE(json.ok()) << json.status();
  const std::string data = testing::WriteSyntheticImages(1, 80, 80, 9);
  const std::string run = codiff::testing::MakeTempDir("sd21") + "/run";
  (*json)["data"]["train_dirs"] = std::vector<std::string>{data};
  (*json)["data"]["crop"] = 64;
  (*json)["output"] = run;
  (*json)["batch"] = 1;
  (*json)["steps"] = 1;
  (*json)["checkpoint_every"] = 0;
  (*json)["validation"] = {{"every", 0}};
  (*json)["stage2"].erase("cave");
  (*json)["stage2"].erase("base_unet");
  (*json)["stage2"].erase("base_vae");
  auto recipe = RecipeFromJson(*json, "");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->preset, "sd21");
  ASSERT_GT(recipe->stage2.disc_lora_rank, 0);

  auto model = BuildStage2Model(*recipe);
  ASSERT_TRUE(model.ok()) << model.status();
  for (const auto& [name, t] : model->generator_trainable) {
    EXPECT_TRUE(Allowed(name)) << name << " is trainable";
  }
  std::map<std::string, torch::Tensor> before, disc_before;
  for (const auto& item : model->generator->named_parameters()) {
    before[item.key()] = Fingerprint(item.value());
  }
  for (const auto& item : model->discriminator->named_parameters()) {
    disc_before[item.key()] = Fingerprint(item.value());
  }
  std::vector<torch::Tensor> gen_params, disc_params;
  for (const auto& [name, t] : model->generator_trainable) gen_params.push_back(t);
  for (const auto& [name, t] : model->discriminator_trainable) disc_params.push_back(t);
  torch::optim::AdamW gen_opt(gen_params, torch::optim::AdamWOptions(recipe->stage2.lr));
  torch::optim::AdamW disc_opt(disc_params, torch::optim::AdamWOptions(recipe->stage2.disc_lr));

  auto dataset = PairDataset::Open(recipe->data);
  ASSERT_TRUE(dataset.ok());
  auto pairs = (*dataset)->Samples(0, 1);
  ASSERT_TRUE(pairs.ok());
  SetStage2TrainModes(*model);
  const auto losses = Stage2Step(*model, gen_opt, disc_opt, ToBatch(*pairs), recipe->stage2);
  std::printf("[ sd21     ] one step: loss %.5f (mse %.5f, gan_g %.5f, gan_d %.5f)\n",
              losses.at("loss"), losses.at("mse"), losses.at("gan_g"), losses.at("gan_d"));

  int changed_lora = 0, changed_other = 0;
  bool changed_proj = false, changed_conv_in = false;
  for (const auto& item : model->generator->named_parameters()) {
    if (torch::equal(before.at(item.key()), Fingerprint(item.value()))) continue;
    EXPECT_TRUE(Allowed(item.key())) << item.key() << " changed";
    changed_other += !Allowed(item.key());
    changed_lora += item.key().find("lora_") != std::string::npos;
    changed_proj |= item.key().rfind("proj.", 0) == 0;
    changed_conv_in |= item.key() == "unet.conv_in.weight";
  }
  int disc_changed = 0;
  for (const auto& item : model->discriminator->named_parameters()) {
    if (torch::equal(disc_before.at(item.key()), Fingerprint(item.value()))) continue;
    ++disc_changed;
    const std::string& k = item.key();
    EXPECT_TRUE(k.find("lora_") != std::string::npos || k == "context" || k.rfind("head_", 0) == 0)
        << "discriminator " << k << " changed";
  }
  std::printf(
      "[ sd21     ] generator: %d LoRA tensors changed, proj %d, conv_in %d, other %d; "
      "discriminator: %d tensors changed\n",
      changed_lora, changed_proj, changed_conv_in, changed_other, disc_changed);
  EXPECT_GT(changed_lora, 0);
  EXPECT_TRUE(changed_proj);
  EXPECT_TRUE(changed_conv_in);
  EXPECT_GT(disc_changed, 0);
}

}  // namespace
}  // namespace codiff::training
