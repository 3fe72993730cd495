// A few steps of each stage on the tiny preset: the loss must fall, the
// export must load, and a resumed run must continue the same loss curve.
#include <numeric>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/cave.h"
#include "core/models/discriminator.h"
#include "core/models/model_architecture.h"
#include "core/weights/model_folder.h"
#include "core/weights/tensor_io.h"
#include "tests/test_support.h"
#include "tests/training/training_test_util.h"
#include "training/checkpoint.h"
#include "training/trainer.h"

namespace codiff::training {
namespace {

RunOptions Opts(int64_t stop_after = -1, bool resume = false) {
  RunOptions o;
  o.quiet = true;
  o.stop_after = stop_after;
  o.resume = resume;
  return o;
}

double Mean(const std::vector<double>& v, size_t first, size_t count) {
  return std::accumulate(v.begin() + first, v.begin() + first + count, 0.0) / count;
}

class TrainingSmokeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = new std::string(testing::WriteSyntheticImages(4, 96, 96, 5));
  }
  static std::string* data_dir_;
};
std::string* TrainingSmokeTest::data_dir_ = nullptr;

// Trains 5 tiny stage-1 steps in root/first and returns the recipe of a run
// in root/name that starts from them.
Recipe FollowUpOfAShortRun(const std::string& data_dir, const std::string& root,
                           const std::string& name) {
  Recipe first = testing::TinyRecipe("stage1", data_dir, root + "/first");
  first.steps = 5;
  EXPECT_TRUE(RunStage1(first, Opts()).ok());
  Recipe next = testing::TinyRecipe("stage1", data_dir, root + "/" + name);
  next.stage1.init_from = root + "/first";
  return next;
}

TEST_F(TrainingSmokeTest, Stage1ThenStage2LowerTheLossAndExportLoadableFolders) {
  const std::string root = codiff::testing::MakeTempDir("smoke");
  Recipe r1 = testing::TinyRecipe("stage1", *data_dir_, root + "/stage1");
  r1.steps = 30;
  auto s1 = RunStage1(r1, Opts());
  ASSERT_TRUE(s1.ok()) << s1.status();
  ASSERT_EQ(s1->total_losses.size(), 30u);
  const double before1 = Mean(s1->total_losses, 0, 5), after1 = Mean(s1->total_losses, 25, 5);
  std::printf("[ smoke    ] stage1 loss %.5f -> %.5f\n", before1, after1);
  EXPECT_LT(after1, before1);
  ASSERT_TRUE(std::filesystem::exists(root + "/stage1/cave.safetensors"));
  ASSERT_TRUE(ExportRun(root + "/stage1", root + "/model1").ok());
  auto loaded1 = LoadModelFolder(root + "/model1");
  ASSERT_TRUE(loaded1.ok()) << loaded1.status();
  EXPECT_FALSE(loaded1->provenance.trained);

  Recipe r2 = testing::TinyRecipe("stage2", *data_dir_, root + "/stage2");
  r2.steps = 20;
  r2.stage2.cave = root + "/stage1";
  r2.source["stage2"]["cave"] = r2.stage2.cave;
  auto s2 = RunStage2(r2, Opts());
  ASSERT_TRUE(s2.ok()) << s2.status();
  const double before2 = Mean(s2->total_losses, 0, 4), after2 = Mean(s2->total_losses, 16, 4);
  std::printf("[ smoke    ] stage2 loss %.5f -> %.5f\n", before2, after2);
  EXPECT_LT(after2, before2);
  const absl::Status exported = ExportRun(root + "/stage2", root + "/model2");
  ASSERT_TRUE(exported.ok()) << exported;
  auto loaded2 = LoadModelFolder(root + "/model2");
  ASSERT_TRUE(loaded2.ok()) << loaded2.status();
  EXPECT_TRUE(loaded2->provenance.trained);
  // The exported generator restores an image of the crop size.
  torch::NoGradGuard no_grad;
  loaded2->generator->eval();
  const torch::Tensor y = loaded2->generator->forward(torch::rand({1, 3, 64, 64}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 64, 64}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());

  // A stage-1 run exported with model2's generator: stage 1's CaVE, model2's
  // projection / UNet / VAE, model2's training flag.
  const absl::Status merged = ExportRun(root + "/stage1", root + "/model3", root + "/model2");
  ASSERT_TRUE(merged.ok()) << merged;
  auto loaded3 = LoadModelFolder(root + "/model3");
  ASSERT_TRUE(loaded3.ok()) << loaded3.status();
  EXPECT_TRUE(loaded3->provenance.trained);
  auto expect_same_tensors = [](const std::string& expected_file, const std::string& file) {
    auto expected = ReadTensorFile(expected_file);
    auto actual = ReadTensorFile(file);
    ASSERT_TRUE(expected.ok() && actual.ok()) << file;
    for (const auto& [name, t] : *expected) {
      ASSERT_TRUE(actual->count(name)) << file << ": " << name;
      EXPECT_TRUE(torch::equal(actual->at(name), t)) << file << ": " << name;
    }
  };
  for (const char* file : {"unet.safetensors", "vae.safetensors", "projection.safetensors"}) {
    expect_same_tensors(root + "/model2/" + file, root + "/model3/" + file);
  }
  expect_same_tensors(root + "/stage1/cave.safetensors", root + "/model3/cave.safetensors");
  // Only for stage-1 runs, and only from a folder of the same architecture.
  EXPECT_FALSE(ExportRun(root + "/stage2", root + "/model4", root + "/model2").ok());
  EXPECT_FALSE(ExportRun(root + "/stage1", root + "/model4", root + "/no-such-folder").ok());
}

TEST_F(TrainingSmokeTest, Stage1InitFromStartsAtTheGivenWeightsAndMayAddQfConditioning) {
  const std::string root = codiff::testing::MakeTempDir("init_from");
  // A zero-step run initialised from the first hands on the same weights,
  // plus the conditioning's new (zero-initialised) films.
  Recipe next = FollowUpOfAShortRun(*data_dir_, root, "next");
  next.steps = 0;
  next.cave_qf_conditioning = true;
  auto run = RunStage1(next, Opts());
  ASSERT_TRUE(run.ok()) << run.status();
  auto before = ReadTensorFile(root + "/first/cave.safetensors");
  auto after = ReadTensorFile(root + "/next/cave.safetensors");
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(after->size(), before->size() + 10);
  for (const auto& [name, tensor] : *before) {
    ASSERT_TRUE(after->count(name)) << name;
    EXPECT_TRUE(torch::equal(after->at(name), tensor)) << name;
  }
  EXPECT_EQ(after->at("qf_embed.2.weight").abs().sum().item<double>(), 0.0);

  // A folder without a CaVE is an error, not a silent fresh start; so is a
  // file that lacks tensors other than the conditioning's.
  next.output = root + "/missing";
  next.stage1.init_from = root + "/nothing-here";
  EXPECT_EQ(RunStage1(next, Opts()).status().code(), absl::StatusCode::kNotFound);
  next.stage1.init_from = root + "/next/cave.safetensors";
  next.cave_qf_conditioning = false;  // the file has tensors this CaVE lacks
  EXPECT_FALSE(RunStage1(next, Opts()).ok());
}

TEST_F(TrainingSmokeTest, Stage1QfHeadOnlyLeavesTheRestOfCaveAsItWas) {
  const std::string root = codiff::testing::MakeTempDir("qf_head");
  Recipe head = FollowUpOfAShortRun(*data_dir_, root, "head");
  head.steps = 5;
  head.stage1.train_parts = "qf_head";
  head.stage1.objective = "explicit";
  auto run = RunStage1(head, Opts());
  ASSERT_TRUE(run.ok()) << run.status();
  auto before = ReadTensorFile(root + "/first/cave.safetensors");
  auto after = ReadTensorFile(root + "/head/cave.safetensors");
  ASSERT_TRUE(before.ok() && after.ok());
  double head_change = 0;
  for (const auto& [name, tensor] : *before) {
    const double change = (after->at(name) - tensor).abs().max().item<double>();
    if (name.rfind("qf_pred.", 0) == 0) {
      head_change = std::max(head_change, change);
    } else {
      // Weights and BatchNorm statistics alike (the average may round).
      EXPECT_LT(change, 1e-6) << name;
    }
  }
  EXPECT_GT(head_change, 1e-4);
}

void ExpectSameCurve(const std::vector<double>& full, const std::vector<double>& resumed) {
  ASSERT_EQ(full.size(), resumed.size());
  double worst = 0.0;
  for (size_t i = 0; i < full.size(); ++i) {
    worst = std::max(worst, std::abs(full[i] - resumed[i]) / std::abs(full[i]));
  }
  std::printf("[ resume   ] max relative loss difference %.3e over %zu steps\n", worst,
              full.size());
  EXPECT_LT(worst, 1e-5);
}

TEST_F(TrainingSmokeTest, Stage1ResumeContinuesTheSameLossCurve) {
  const std::string root = codiff::testing::MakeTempDir("resume1");
  Recipe full = testing::TinyRecipe("stage1", *data_dir_, root + "/full");
  full.steps = 6;
  auto a = RunStage1(full, Opts());
  ASSERT_TRUE(a.ok()) << a.status();
  Recipe part = testing::TinyRecipe("stage1", *data_dir_, root + "/part");
  part.steps = 6;
  auto b1 = RunStage1(part, Opts(3));
  ASSERT_TRUE(b1.ok()) << b1.status();
  EXPECT_EQ(b1->last_step, 3);
  auto b2 = RunStage1(part, Opts(-1, true));
  ASSERT_TRUE(b2.ok()) << b2.status();
  EXPECT_EQ(b2->first_step, 3);
  EXPECT_EQ(b2->last_step, 6);
  std::vector<double> joined = b1->total_losses;
  joined.insert(joined.end(), b2->total_losses.begin(), b2->total_losses.end());
  ExpectSameCurve(a->total_losses, joined);
}

// The largest absolute difference between two CaVE weight files, parameters
// and buffers alike.
double MaxWeightDifference(const Recipe& r, const std::string& a, const std::string& b) {
  auto arch = models::PresetArchitecture(r.preset);
  EXPECT_TRUE(arch.ok()) << arch.status();
  models::CaVE x(arch->cave), y(arch->cave);
  EXPECT_TRUE(LoadModuleWeights(a, *x).ok()) << a;
  EXPECT_TRUE(LoadModuleWeights(b, *y).ok()) << b;
  double worst = 0.0;
  const auto xs = x->named_parameters(), ys = y->named_parameters();
  for (const auto& item : xs) {
    worst = std::max(worst, (item.value() - ys[item.key()]).abs().max().item<double>());
  }
  return worst;
}

TEST_F(TrainingSmokeTest, Stage1WeightAverageIsHandedOnAndSurvivesResume) {
  const std::string root = codiff::testing::MakeTempDir("ema1");
  Recipe full = testing::TinyRecipe("stage1", *data_dir_, root + "/full");
  full.steps = 6;
  full.stage1.ema_decay = 0.5;
  ASSERT_TRUE(RunStage1(full, Opts()).ok());
  const std::string ckpt = root + "/full/checkpoint";
  // The run's output (stage 2's input) is the average, not the last step.
  EXPECT_EQ(
      MaxWeightDifference(full, root + "/full/cave.safetensors", ckpt + "/cave_ema.safetensors"),
      0.0);
  EXPECT_GT(MaxWeightDifference(full, ckpt + "/cave.safetensors", ckpt + "/cave_ema.safetensors"),
            1e-6);
  // Interrupted and resumed, the average is the same as without the break.
  Recipe part = full;
  part.output = root + "/part";
  ASSERT_TRUE(RunStage1(part, Opts(3)).ok());
  ASSERT_TRUE(RunStage1(part, Opts(-1, true)).ok());
  const double resumed = MaxWeightDifference(full, ckpt + "/cave_ema.safetensors",
                                             root + "/part/checkpoint/cave_ema.safetensors");
  std::printf("[ ema      ] resumed vs uninterrupted average: max |diff| %.3e\n", resumed);
  EXPECT_LT(resumed, 1e-4);
  // Export takes the average too.
  ASSERT_TRUE(ExportRun(root + "/full", root + "/model").ok());
  auto loaded = LoadModelFolder(root + "/model");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_NE(loaded->provenance.description.find("EMA"), std::string::npos);
}

TEST_F(TrainingSmokeTest, Stage2ResumeContinuesTheSameLossCurve) {
  const std::string root = codiff::testing::MakeTempDir("resume2");
  Recipe full = testing::TinyRecipe("stage2", *data_dir_, root + "/full");
  full.steps = 4;
  full.stage2.ema_decay = 0.9;
  auto a = RunStage2(full, Opts());
  ASSERT_TRUE(a.ok()) << a.status();
  Recipe part = full;
  part.output = root + "/part";
  auto b1 = RunStage2(part, Opts(2));
  ASSERT_TRUE(b1.ok()) << b1.status();
  auto b2 = RunStage2(part, Opts(-1, true));
  ASSERT_TRUE(b2.ok()) << b2.status();
  EXPECT_EQ(b2->first_step, 2);
  std::vector<double> joined = b1->total_losses;
  joined.insert(joined.end(), b2->total_losses.begin(), b2->total_losses.end());
  ExpectSameCurve(a->total_losses, joined);
}

TEST(LatentDiscriminatorTest, GivesPatchLogitsWithGradientToItsInput) {
  models::UNet2DConditionConfig unet;
  unet.block_out_channels = {16, 32, 64, 64};
  unet.num_attention_heads = {2, 4, 8, 8};
  unet.norm_num_groups = 8;
  unet.cross_attention_dim = 32;
  models::LatentDiscriminatorOptions o;
  o.unet = unet;
  models::LatentDiscriminator d(o);
  EXPECT_EQ(models::LatentDiscriminatorImpl::HeadGroups(128), 32);
  EXPECT_EQ(models::LatentDiscriminatorImpl::HeadGroups(24), 24);
  const torch::Tensor z = torch::randn({2, 4, 32, 32}, torch::requires_grad());
  const torch::Tensor logits = d->forward(z);
  // 32 -> 4 after three downsamplers; two 4x4 convs with padding 1 -> 2.
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 1, 2, 2}));
  logits.sum().backward();
  EXPECT_GT(z.grad().abs().sum().item<double>(), 0.0);
  EXPECT_EQ(d->forward(torch::randn({1, 4, 8, 8})).sizes(), (std::vector<int64_t>{1, 1, 1, 1}));
}

}  // namespace
}  // namespace codiff::training
