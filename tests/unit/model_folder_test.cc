#include "core/weights/model_folder.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/lora_injection.h"
#include "core/models/model_architecture.h"
#include "tests/test_support.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;

models::OneStepGenerator TinyGenerator(int64_t lora_rank) {
  auto arch = models::PresetArchitecture("tiny");
  EXPECT_TRUE(arch.ok());
  arch->unet_lora = {lora_rank, 2.0 * lora_rank};
  arch->vae_lora = {lora_rank, 2.0 * lora_rank};
  torch::manual_seed(5);
  models::OneStepGenerator g = BuildGenerator(*arch);
  torch::NoGradGuard no_grad;
  // Non-zero adapters, so a load that dropped them would change the output.
  for (auto& p : models::LoraParameters(*g)) p.normal_(0.0, 0.05);
  g->eval();
  return g;
}

TEST(ModelFolderTest, RoundTripReproducesTheOutput) {
  const std::string dir = testing::MakeTempDir("model") + "/tiny";
  models::OneStepGenerator g = TinyGenerator(/*lora_rank=*/4);
  ModelProvenance provenance{false, "test model", "model_folder_test"};
  ASSERT_TRUE(WriteModelFolder(dir, *g, provenance).ok());
  for (const char* f : {"model.yaml", "cave.safetensors", "projection.safetensors",
                        "unet.safetensors", "vae.safetensors"}) {
    EXPECT_TRUE(fs::exists(fs::path(dir) / f)) << f;
  }
  ModelLoadOptions keep_adapters;
  keep_adapters.merge_lora = false;
  auto loaded = LoadModelFolder(dir, keep_adapters);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->provenance.trained);
  EXPECT_EQ(loaded->provenance.description, "test model");
  EXPECT_EQ(models::CountLoraParameters(*loaded->generator), models::CountLoraParameters(*g));
  for (const auto& line : loaded->report) EXPECT_EQ(line.find("unused"), std::string::npos) << line;

  auto merged = LoadModelFolder(dir);  // the serving form: adapters folded into the weights
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(models::CountLoraParameters(*merged->generator), 0);

  torch::NoGradGuard no_grad;
  torch::manual_seed(6);
  torch::Tensor x = torch::rand({1, 3, 64, 64});
  torch::Tensor expected = g->forward(x);
  EXPECT_TENSOR_NEAR("model folder round trip", loaded->generator->forward(x), expected, 0.0);
  // Merging reorders float sums; through UNet + VAE decoder that stays small.
  EXPECT_TENSOR_NEAR("model folder merged LoRA", merged->generator->forward(x), expected, 2e-4);
}

// Descriptions are free text (export chains the run's and the donor's);
// each must come back verbatim, whatever it would mean as YAML, and none may
// stop the write (a string that is not valid YAML on its own once did).
TEST(ModelFolderTest, AnyDescriptionRoundTrips) {
  const std::string dir = testing::MakeTempDir("model-description") + "/tiny";
  models::OneStepGenerator g = TinyGenerator(/*lora_rank=*/0);
  for (const std::string description :
       {"CaVE: run 4 (9000 steps); projection, UNet and VAE from models/default (CaVE: run 1 "
        "(from scratch, 8000 steps) continued by run 2, then its QF head re-fit (600 steps); "
        "projection: run 1 stage 2)",
        "a: b: c", "key: value", "- item", "[unclosed", "{x: 1", "yes", "3.5", "null", "~",
        "#not a comment", "'quoted'", "\"double\"", "", "tab\there", "line\nbreak"}) {
    ModelProvenance provenance{true, description, "model_folder_test"};
    ASSERT_TRUE(WriteModelFolder(dir, *g, provenance).ok()) << description;
    auto loaded = LoadModelFolder(dir);
    ASSERT_TRUE(loaded.ok()) << description << ": " << loaded.status();
    EXPECT_EQ(loaded->provenance.description, description);
  }
}

TEST(ModelFolderTest, TrainedQualityRangeRoundTripsAndIsChecked) {
  const std::string dir = testing::MakeTempDir("model_qf") + "/tiny";
  models::OneStepGenerator g = TinyGenerator(/*lora_rank=*/0);
  ModelProvenance provenance{true, "test model", "model_folder_test", 5, 95};
  ASSERT_TRUE(WriteModelFolder(dir, *g, provenance).ok());
  ModelProvenance read;
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_EQ(read.trained_qf_min, 5);
  EXPECT_EQ(read.trained_qf_max, 95);

  // Folders without the range (older exports, SD weights) load with 0 / 0.
  ASSERT_TRUE(WriteModelFolder(dir, *g, {true, "no range", "model_folder_test"}).ok());
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_EQ(read.trained_qf_max, 0);

  const std::string yaml = (fs::path(dir) / "model.yaml").string();
  std::string text;
  {
    std::ifstream in(yaml);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (const char* bad : {"trained_qf: {min: 50, max: 20}\n", "trained_qf: {min: 0, max: 95}\n",
                          "trained_qf: {min: 5, max: 101}\n", "trained_qf: {min: 5}\n",
                          "trained_qf: {min: five, max: 95}\n", "trained_qf: 95\n"}) {
    std::ofstream(yaml, std::ios::trunc) << text << bad;
    auto r = ReadModelArchitecture(dir, &read);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("trained_qf"), std::string::npos) << r.status();
  }
}

TEST(ModelFolderTest, DefaultModeRoundTripsAndIsChecked) {
  const std::string dir = testing::MakeTempDir("model_mode") + "/tiny";
  models::OneStepGenerator g = TinyGenerator(/*lora_rank=*/0);
  ModelProvenance provenance;
  provenance.default_mode = "fidelity";
  ASSERT_TRUE(WriteModelFolder(dir, *g, provenance).ok());
  ModelProvenance read;
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_EQ(read.default_mode, "fidelity");
  ASSERT_TRUE(WriteModelFolder(dir, *g, {}).ok());
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_EQ(read.default_mode, "perceptual");
  std::ofstream(dir + "/model.yaml", std::ios::app) << "default_mode: sharp\n";
  auto r = ReadModelArchitecture(dir, &read);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("default_mode"), std::string::npos) << r.status();
}

TEST(ModelFolderTest, WrongShapeIsAnErrorNamingTheKey) {
  const std::string dir = testing::MakeTempDir("model") + "/tiny";
  models::OneStepGenerator g = TinyGenerator(0);
  ASSERT_TRUE(WriteModelFolder(dir, *g, {}).ok());
  ASSERT_TRUE(WriteTensorFile(dir + "/projection.safetensors",
                              {{"weight", torch::zeros({32, 63})}, {"bias", torch::zeros({32})}})
                  .ok());
  auto loaded = LoadModelFolder(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("'weight'"), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find("32,63"), std::string::npos) << loaded.status();
}

TEST(ModelFolderTest, MissingTensorAndMissingFolderAreClearErrors) {
  const std::string dir = testing::MakeTempDir("model") + "/tiny";
  models::OneStepGenerator g = TinyGenerator(0);
  ASSERT_TRUE(WriteModelFolder(dir, *g, {}).ok());
  ASSERT_TRUE(
      WriteTensorFile(dir + "/projection.safetensors", {{"weight", torch::zeros({32, 64})}}).ok());
  auto loaded = LoadModelFolder(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(loaded.status().message().find("missing tensor 'bias'"), std::string::npos)
      << loaded.status();

  auto none = LoadModelFolder(dir + "/does-not-exist");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("not a model folder"), std::string::npos);
}

TEST(ModelFolderTest, BadYamlIsRejected) {
  const std::string dir = testing::MakeTempDir("model");
  std::ofstream(dir + "/model.yaml") << "format: codiff-model/1\narchitecture: [unclosed\n";
  auto loaded = LoadModelFolder(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument) << loaded.status();
}

TEST(ModelArchitectureTest, JsonRoundTripForEveryPreset) {
  for (const auto& name : models::PresetNames()) {
    auto arch = models::PresetArchitecture(name);
    ASSERT_TRUE(arch.ok());
    auto back = models::ArchitectureFromJson(models::ArchitectureToJson(*arch));
    ASSERT_TRUE(back.ok()) << name << ": " << back.status();
    EXPECT_EQ(models::ArchitectureToJson(*back), models::ArchitectureToJson(*arch)) << name;
  }
  EXPECT_FALSE(models::PresetArchitecture("huge").ok());
}

}  // namespace
}  // namespace codiff
