// Recipes: per-stage sections of a two-stage file, the learning-rate
// schedule, and the shipped recipes parse.
#include <cmath>

#include <gtest/gtest.h>

#include "training/recipe.h"

namespace codiff::training {
namespace {

nlohmann::json TwoStage() {
  return nlohmann::json::parse(R"({
    "preset": "tiny", "seed": 4, "threads": 1, "steps": 100,
    "data": {"train_dirs": ["/data"], "crop": 64},
    "stages": {
      "stage1": {"batch": 8, "output": "/runs/s1", "stage1": {"lr": 0.001}},
      "stage2": {"batch": 2, "steps": 50, "output": "/runs/s2",
                 "data": {"crop": 96}, "stage2": {"cave": "/runs/s1"}}
    }
  })");
}

TEST(RecipeTest, StageSectionsOverrideTheSharedKeys) {
  auto s1 = SelectStage(TwoStage(), "stage1");
  ASSERT_TRUE(s1.ok()) << s1.status();
  auto r1 = RecipeFromJson(*s1, "/");
  ASSERT_TRUE(r1.ok()) << r1.status();
  EXPECT_EQ(r1->stage, "stage1");
  EXPECT_EQ(r1->batch, 8);
  EXPECT_EQ(r1->steps, 100);
  EXPECT_EQ(r1->output, "/runs/s1");
  EXPECT_DOUBLE_EQ(r1->stage1.lr, 0.001);
  EXPECT_EQ(r1->data.crop, 64);

  auto s2 = SelectStage(TwoStage(), "stage2");
  ASSERT_TRUE(s2.ok());
  auto r2 = RecipeFromJson(*s2, "/");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ(r2->steps, 50);
  EXPECT_EQ(r2->data.crop, 96);                                 // merged key by key:
  EXPECT_EQ(r2->data.dirs, std::vector<std::string>{"/data"});  // the shared one stays
  EXPECT_EQ(r2->stage2.cave, "/runs/s1");
  EXPECT_FALSE(s2->contains("stages"));

  EXPECT_FALSE(SelectStage(TwoStage(), "stage3").ok());
  // A single-stage recipe is returned as it is.
  nlohmann::json single = {{"stage", "stage1"}, {"steps", 3}};
  EXPECT_EQ(*SelectStage(single, "stage1"), single);
}

TEST(RecipeTest, CosineScheduleWarmsUpThenDecaysToTheFinalRatio) {
  Recipe r;
  r.steps = 1000;
  EXPECT_DOUBLE_EQ(LearningRateFactor(r, 0), 1.0);  // constant by default
  EXPECT_DOUBLE_EQ(LearningRateFactor(r, 999), 1.0);
  r.lr_schedule = "cosine";
  r.lr_final_ratio = 0.1;
  r.warmup_steps = 100;
  EXPECT_DOUBLE_EQ(LearningRateFactor(r, 0), 0.01);
  EXPECT_DOUBLE_EQ(LearningRateFactor(r, 49), 0.5);
  EXPECT_DOUBLE_EQ(LearningRateFactor(r, 100), 1.0);
  EXPECT_NEAR(LearningRateFactor(r, 999), 0.1, 1e-12);
  // Halfway through the decay: the mean of peak and floor.
  EXPECT_NEAR(LearningRateFactor(r, 100 + 899 / 2.0), 0.55, 2e-3);
  for (int64_t s = 101; s < 1000; ++s) {
    EXPECT_LE(LearningRateFactor(r, s), LearningRateFactor(r, s - 1)) << s;
  }
}

TEST(RecipeTest, RejectsBadSchedules) {
  nlohmann::json j = {{"stage", "stage1"},
                      {"output", "/runs/x"},
                      {"data", {{"train_dirs", {"/data"}}}},
                      {"lr_schedule", "step"}};
  EXPECT_FALSE(RecipeFromJson(j, "/").ok());
  j["lr_schedule"] = "cosine";
  j["lr_final_ratio"] = 1.5;
  EXPECT_FALSE(RecipeFromJson(j, "/").ok());
  j["lr_final_ratio"] = 0.1;
  EXPECT_TRUE(RecipeFromJson(j, "/").ok());
}

TEST(RecipeTest, GanStartStepIsReadAndMustNotBeNegative) {
  nlohmann::json j = {{"stage", "stage2"},
                      {"output", "/runs/x"},
                      {"data", {{"train_dirs", {"/data"}}}},
                      {"stage2", {{"gan_start_step", 300}}}};
  auto recipe = RecipeFromJson(j, "/");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stage2.gan_start_step, 300);
  j["stage2"]["gan_start_step"] = -1;
  EXPECT_FALSE(RecipeFromJson(j, "/").ok());
}

TEST(RecipeTest, WeightAverageDecayWarmsUpToTheRecipeValue) {
  EXPECT_DOUBLE_EQ(EmaDecayAt(0.999, 0), 0.1);  // the first update keeps 10% of the initial weights
  EXPECT_DOUBLE_EQ(EmaDecayAt(0.999, 90), 0.91);
  EXPECT_DOUBLE_EQ(EmaDecayAt(0.999, 100000), 0.999);
  EXPECT_DOUBLE_EQ(EmaDecayAt(0.5, 100), 0.5);
  // What is left of the initial weights after 2000 updates: under 1e-4,
  // where a fixed 0.999 leaves 13%.
  double initial = 1.0;
  for (int64_t step = 0; step < 2000; ++step) initial *= EmaDecayAt(0.999, step);
  EXPECT_LT(initial, 1e-4);
}

TEST(RecipeTest, Stage1WeightAverageIsReadAndMustBeBelowOne) {
  nlohmann::json j = {{"stage", "stage1"},
                      {"output", "/runs/x"},
                      {"data", {{"train_dirs", {"/data"}}}},
                      {"stage1", {{"ema_decay", 0.999}}}};
  auto recipe = RecipeFromJson(j, "/");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_DOUBLE_EQ(recipe->stage1.ema_decay, 0.999);
  j["stage1"]["ema_decay"] = 1.0;  // would never move from the initial weights
  EXPECT_FALSE(RecipeFromJson(j, "/").ok());
  j["stage1"]["ema_decay"] = -0.1;
  EXPECT_FALSE(RecipeFromJson(j, "/").ok());
}

TEST(RecipeTest, ShippedRecipesParseForEveryStageTheyDescribe) {
  const std::string dir = std::string(CODIFF_SOURCE_DIR) + "/training/recipes/";
  for (const char* stage : {"stage1", "stage2"}) {
    auto r = ReadRecipe(dir + "default.yaml", stage);
    ASSERT_TRUE(r.ok()) << stage << ": " << r.status();
    EXPECT_EQ(r->preset, "small");
    EXPECT_EQ(r->stage, stage);
  }
  // The continuations train CaVE only (the generator comes from the folder).
  for (const char* file : {"default_continue.yaml", "continue_128_extra_photos.yaml"}) {
    auto r = ReadRecipe(dir + file, "stage1");
    ASSERT_TRUE(r.ok()) << file << ": " << r.status();
    EXPECT_EQ(r->stage1.restoration_loss, "mse_luma") << file;
    EXPECT_FALSE(ReadRecipe(dir + file, "stage2").ok()) << file;
  }
  for (const char* file : {"small_stage1_dual.yaml", "small_stage1_explicit.yaml",
                           "small_stage2.yaml", "sd21_stage2_lora.yaml"}) {
    EXPECT_TRUE(ReadRecipe(dir + file).ok()) << file;
  }
  for (const char* probe : {"continue_control", "qf_conditioning", "crop256", "more_data",
                            "mse_luma", "lr1e-4", "luma_data23", "double_jpeg"}) {
    auto r = ReadRecipe(dir + "probes/" + probe + ".yaml");
    ASSERT_TRUE(r.ok()) << probe << ": " << r.status();
    EXPECT_FALSE(r->stage1.init_from.empty()) << probe;
  }
}

TEST(RecipeTest, WidenedRecipesNameOneArchitectureAndTheTableBank) {
  const std::string dir = std::string(CODIFF_SOURCE_DIR) + "/training/recipes/";
  auto widen = ReadRecipe(dir + "default_widen.yaml", "stage1");
  auto head = ReadRecipe(dir + "default_widen_qf_head.yaml", "stage1");
  ASSERT_TRUE(widen.ok()) << widen.status();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_TRUE(widen->stage1.init_grow);
  EXPECT_GT(widen->data.degradation.table_bank_prob, 0.0);
  EXPECT_EQ(head->stage1.train_parts, "qf_head");
  auto a = RecipeArchitecture(*widen);
  auto b = RecipeArchitecture(*head);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->cave.widths, (std::vector<int64_t>{32, 64, 128, 128}));
  EXPECT_EQ(b->cave.widths, a->cave.widths);
}

TEST(RecipeTest, CaveWidthsAndBlocksAreChecked) {
  nlohmann::json j = {{"stage", "stage1"},
                      {"preset", "small"},
                      {"output", "runs/x"},
                      {"data", {{"train_dirs", {"photos"}}}},
                      {"cave_widths", {24, 48, 128, 128}},
                      {"cave_blocks", 3}};
  auto recipe = RecipeFromJson(j, "/");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  auto arch = RecipeArchitecture(*recipe);
  ASSERT_TRUE(arch.ok()) << arch.status();
  EXPECT_EQ(arch->cave.widths, (std::vector<int64_t>{24, 48, 128, 128}));
  EXPECT_EQ(arch->cave.blocks_per_stage, 3);
  for (const nlohmann::json& widths :
       {nlohmann::json{16, 32, 128}, nlohmann::json{16, 30, 128, 128},
        nlohmann::json{0, 32, 128, 128}}) {
    j["cave_widths"] = widths;
    j["cave_blocks"] = 2;
    recipe = RecipeFromJson(j, "/");
    ASSERT_TRUE(recipe.ok()) << recipe.status();
    EXPECT_FALSE(RecipeArchitecture(*recipe).ok()) << widths;
  }
  j["cave_widths"] = {16, 32, 128, 128};
  j["cave_blocks"] = 17;
  recipe = RecipeFromJson(j, "/");
  ASSERT_TRUE(recipe.ok());
  EXPECT_FALSE(RecipeArchitecture(*recipe).ok());
}

TEST(RecipeTest, InitFromAndQfConditioningAreReadAndResolved) {
  nlohmann::json j = {
      {"stage", "stage1"},
      {"output", "runs/x"},
      {"data", {{"train_dirs", {"photos"}}}},
      {"cave_qf_conditioning", true},
      {"stage1", {{"init_from", "models/default"}, {"restoration_loss", "mse_luma"}}}};
  auto recipe = RecipeFromJson(j, "/repo");
  ASSERT_TRUE(recipe.ok()) << recipe.status();
  EXPECT_EQ(recipe->stage1.init_from, "/repo/models/default");
  EXPECT_TRUE(recipe->cave_qf_conditioning);
  auto arch = RecipeArchitecture(*recipe);
  ASSERT_TRUE(arch.ok());
  EXPECT_TRUE(arch->cave.qf_conditioning);
  j.erase("cave_qf_conditioning");
  recipe = RecipeFromJson(j, "/repo");
  ASSERT_TRUE(recipe.ok());
  EXPECT_FALSE(RecipeArchitecture(*recipe)->cave.qf_conditioning);
  j["stage1"]["restoration_loss"] = "mse_rgb";
  EXPECT_FALSE(RecipeFromJson(j, "/repo").ok());
  j["stage1"]["restoration_loss"] = "mse";
  EXPECT_EQ(RecipeFromJson(j, "/repo")->stage1.train_parts, "all");
  j["stage1"]["train_parts"] = "qf_head";
  EXPECT_EQ(RecipeFromJson(j, "/repo")->stage1.train_parts, "qf_head");
  j["stage1"]["train_parts"] = "decoder";
  EXPECT_FALSE(RecipeFromJson(j, "/repo").ok());
}

TEST(RecipeTest, QfEstimateCropFollowsTheTrainingCrops) {
  nlohmann::json j = {{"stage", "stage1"},
                      {"output", "runs/x"},
                      {"preset", "small"},
                      {"data", {{"train_dirs", {"photos"}}, {"crop", 256}}}};
  auto arch = RecipeArchitecture(*RecipeFromJson(j, "/repo"));
  ASSERT_TRUE(arch.ok());
  EXPECT_EQ(arch->cave.qf_estimate_crop, 256);
  j["data"]["crop"] = 100;  // not a size the estimate can use: the preset's stays
  EXPECT_EQ(RecipeArchitecture(*RecipeFromJson(j, "/repo"))->cave.qf_estimate_crop, 128);
  j["preset"] = "tiny";  // no crop-wise estimate in the preset: none is added
  j["data"]["crop"] = 64;
  EXPECT_EQ(RecipeArchitecture(*RecipeFromJson(j, "/repo"))->cave.qf_estimate_crop, 0);
}

}  // namespace
}  // namespace codiff::training
