// UNet2DConditionModel against tests/testdata/fixtures/unet_tiny (diffusers
// 0.25.1, SD 2.1-base layout at narrow widths, random weights, fp32, eval).
// Tolerance 2e-5 per FIXTURES.md: fp32-vs-fp64 noise is at most 3.1e-6 there,
// while the subtlest porting mistakes (tanh GELU, swapped GroupNorm eps) move
// `out` by about 6e-5.
#include "core/models/unet_2d_condition.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/attention.h"
#include "core/models/trace.h"
#include "core/weights/diffusers_folder.h"
#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

const double kTol = testing::Tolerance(2e-5);
constexpr const char* kDir = "fixtures/unet_tiny";

class UNetParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = UNet2DConditionConfig::FromJsonFile(
        testing::TestdataPath(std::string(kDir) + "/config.json"));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    weights_ = testing::LoadTestTensors(std::string(kDir) + "/weights.safetensors");
    io_ = testing::OnTestDevice(testing::LoadTestTensors(std::string(kDir) + "/io.safetensors"));
    ASSERT_FALSE(weights_.empty());
    ASSERT_FALSE(io_.empty());
  }

  UNet2DConditionModel Build() {
    UNet2DConditionModel model(config_);
    auto report = LoadStateDictStrict(*model, weights_);
    EXPECT_TRUE(report.ok()) << report.status();
    if (report.ok()) {
      EXPECT_EQ(report->loaded, 686) << report->Summary();
      EXPECT_TRUE(report->unused.empty()) << report->Summary();
      EXPECT_TRUE(report->missing_optional.empty()) << report->Summary();
    }
    model->eval();
    testing::MoveToTestDevice(*model);
    return model;
  }

  const torch::Tensor& Io(const std::string& name) {
    auto it = io_.find(name);
    EXPECT_NE(it, io_.end()) << name;
    return it->second;
  }

  UNet2DConditionConfig config_;
  TensorMap weights_;
  TensorMap io_;
};

TEST_F(UNetParityTest, ConfigFromJsonMatchesFixture) {
  EXPECT_EQ(config_.block_out_channels, (std::vector<int64_t>{16, 32, 64, 64}));
  // attention_head_dim is the head count in SD configs.
  EXPECT_EQ(config_.num_attention_heads, (std::vector<int64_t>{2, 4, 8, 8}));
  EXPECT_EQ(config_.cross_attention_dim, 32);
  EXPECT_EQ(config_.norm_num_groups, 8);
  EXPECT_DOUBLE_EQ(config_.norm_eps, 1e-5);
  EXPECT_TRUE(config_.use_linear_projection);
  EXPECT_TRUE(config_.flip_sin_to_cos);
}

TEST_F(UNetParityTest, KeysMatchFixtureOrder) {
  UNet2DConditionModel model(config_);
  std::ifstream in(testing::TestdataPath(std::string(kDir) + "/keys.tsv"));
  const std::string expected(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(FormatKeyShapeLines(StateDictOf(*model)), expected);
}

TEST_F(UNetParityTest, EveryRecordedIntermediateMatchesReference) {
  UNet2DConditionModel model = Build();
  torch::NoGradGuard no_grad;
  Trace trace;
  const torch::Tensor out =
      model->forward(Io("sample"), Io("timestep"), Io("encoder_hidden_states"), &trace);
  int checked = 0;
  for (const auto& [name, expected] : io_) {
    if (name == "sample" || name == "timestep" || name == "encoder_hidden_states") continue;
    auto it = trace.find(name);
    ASSERT_NE(it, trace.end()) << "not traced: " << name;
    EXPECT_TENSOR_NEAR(name, it->second, expected, kTol);
    ++checked;
  }
  EXPECT_EQ(checked, 36);  // every tensor in io.safetensors but the 3 inputs
  EXPECT_TENSOR_NEAR("out (returned)", out, Io("out"), kTol);
}

// The fused attention kernel (at::scaled_dot_product_attention, LibTorch 2.0
// on: what a GPU runs by default) against the same fixture, and the bmm path
// with fusing switched off. Debian's LibTorch 1.13 has no fused kernel: there
// the bmm path is the only one, and EveryRecordedIntermediateMatchesReference
// covers it.
TEST_F(UNetParityTest, FusedAttentionMatchesReference) {
  if (!FusedAttentionAvailable()) {
    GTEST_SKIP() << "this LibTorch has no scaled_dot_product_attention";
  }
  UNet2DConditionModel model = Build();
  torch::NoGradGuard no_grad;
  for (const FusedAttention mode : {FusedAttention::kAlways, FusedAttention::kNever}) {
    SetFusedAttention(mode);
    const torch::Tensor out =
        model->forward(Io("sample"), Io("timestep"), Io("encoder_hidden_states"));
    const std::string tag = mode == FusedAttention::kAlways ? "out (fused attention)" : "out (bmm)";
    EXPECT_TENSOR_NEAR(tag, out, Io("out"), kTol);
  }
  SetFusedAttention(FusedAttention::kAuto);
}

TEST_F(UNetParityTest, TimestepFormsAgree) {
  UNet2DConditionModel model = Build();
  torch::NoGradGuard no_grad;
  // CODiff passes torch.tensor([499]).long(); diffusers broadcasts and casts.
  const torch::Tensor long_1 = torch::full({1}, 499, torch::kLong).to(testing::TestDevice());
  const torch::Tensor float_scalar =
      torch::scalar_tensor(499.0, torch::kFloat32).to(testing::TestDevice());
  const torch::Tensor a = model->forward(Io("sample"), long_1, Io("encoder_hidden_states"));
  const torch::Tensor b = model->forward(Io("sample"), float_scalar, Io("encoder_hidden_states"));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_TENSOR_NEAR("out (long [1] timestep)", a, Io("out"), kTol);
}

TEST_F(UNetParityTest, DiffusersFolderLoads) {
  namespace fs = std::filesystem;
  const std::string dir = testing::MakeTempDir("unet-folder");
  fs::copy_file(testing::TestdataPath(std::string(kDir) + "/config.json"),
                fs::path(dir) / "config.json");
  fs::copy_file(testing::TestdataPath(std::string(kDir) + "/weights.safetensors"),
                fs::path(dir) / "diffusion_pytorch_model.safetensors");
  auto loaded = LoadDiffusersUNet(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.loaded, 686);
  EXPECT_FALSE(loaded->model->is_training());
  testing::MoveToTestDevice(*loaded->model);
  torch::NoGradGuard no_grad;
  const torch::Tensor out =
      loaded->model->forward(Io("sample"), Io("timestep"), Io("encoder_hidden_states"));
  EXPECT_TENSOR_NEAR("out (diffusers folder)", out, Io("out"), kTol);
  fs::remove_all(dir);
}

TEST(UNetConfigTest, RejectsUnsupportedOptions) {
  nlohmann::json j = {{"class_embed_type", "timestep"}};
  EXPECT_EQ(UNet2DConditionConfig::FromJson(j).status().code(), absl::StatusCode::kUnimplemented);
  nlohmann::json bad = {{"block_out_channels", "wide"}};
  EXPECT_EQ(UNet2DConditionConfig::FromJson(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UNet2DConditionConfig::FromJsonFile("/nonexistent/config.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace codiff::models
