// AutoencoderKL against tests/testdata/fixtures/vae_tiny (diffusers 0.25.1,
// SD VAE layout at narrow widths, random weights, fp32, eval). Tolerance 1e-4
// per FIXTURES.md: fp32-vs-fp64 noise reaches 3e-5 on values up to 5, while a
// wrong GroupNorm eps moves dec_out by 1e-3.
#include "core/models/autoencoder_kl.h"

#include <ATen/CPUGeneratorImpl.h>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "absl/strings/str_replace.h"
#include "core/models/attention.h"
#include "core/models/diagonal_gaussian.h"
#include "core/models/trace.h"
#include "core/weights/diffusers_folder.h"
#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

const double kTol = testing::Tolerance(1e-4);
constexpr const char* kDir = "fixtures/vae_tiny";

class VaeParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = AutoencoderKLConfig::FromJsonFile(
        testing::TestdataPath(std::string(kDir) + "/config.json"));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    weights_ = testing::LoadTestTensors(std::string(kDir) + "/weights.safetensors");
    io_ = testing::OnTestDevice(testing::LoadTestTensors(std::string(kDir) + "/io.safetensors"));
    ASSERT_FALSE(weights_.empty());
    ASSERT_FALSE(io_.empty());
  }

  AutoencoderKL Build() {
    AutoencoderKL model(config_);
    auto report = LoadStateDictStrict(*model, weights_);
    EXPECT_TRUE(report.ok()) << report.status();
    if (report.ok()) {
      EXPECT_EQ(report->loaded, 248) << report->Summary();
      EXPECT_TRUE(report->unused.empty()) << report->Summary();
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

  AutoencoderKLConfig config_;
  TensorMap weights_;
  TensorMap io_;
};

TEST_F(VaeParityTest, ConfigFromJsonMatchesFixture) {
  EXPECT_EQ(config_.block_out_channels, (std::vector<int64_t>{16, 32, 64, 64}));
  EXPECT_EQ(config_.norm_num_groups, 8);
  EXPECT_EQ(config_.latent_channels, 4);
  EXPECT_DOUBLE_EQ(config_.scaling_factor, 0.18215);
}

TEST_F(VaeParityTest, KeysMatchFixtureOrder) {
  AutoencoderKL model(config_);
  std::ifstream in(testing::TestdataPath(std::string(kDir) + "/keys.tsv"));
  const std::string expected(std::istreambuf_iterator<char>(in), {});
  EXPECT_EQ(FormatKeyShapeLines(StateDictOf(*model)), expected);
}

TEST_F(VaeParityTest, EncodeDecodeAndEveryIntermediateMatchReference) {
  AutoencoderKL model = Build();
  torch::NoGradGuard no_grad;
  Trace trace;
  const DiagonalGaussian posterior = model->Encode(Io("x"), &trace);
  const torch::Tensor decoded = model->Decode(posterior.mean(), &trace);
  int checked = 0;
  for (const auto& [name, expected] : io_) {
    if (name == "x" || name == "posterior_noise" || name == "posterior_sample") continue;
    auto it = trace.find(name);
    ASSERT_NE(it, trace.end()) << "not traced: " << name;
    EXPECT_TENSOR_NEAR(name, it->second, expected, kTol);
    ++checked;
  }
  EXPECT_EQ(checked, 21);  // every tensor in io.safetensors but x and the posterior pair
  EXPECT_TENSOR_NEAR("dec_out (returned)", decoded, Io("dec_out"), kTol);
  EXPECT_TENSOR_NEAR("posterior_sample", posterior.Sample(Io("posterior_noise")),
                     Io("posterior_sample"), kTol);
}

// The mid block's attention through the fused kernel (LibTorch 2.0 on; see
// UNetParityTest.FusedAttentionMatchesReference).
TEST_F(VaeParityTest, FusedAttentionMatchesReference) {
  if (!FusedAttentionAvailable()) {
    GTEST_SKIP() << "this LibTorch has no scaled_dot_product_attention";
  }
  AutoencoderKL model = Build();
  torch::NoGradGuard no_grad;
  SetFusedAttention(FusedAttention::kAlways);
  const DiagonalGaussian posterior = model->Encode(Io("x"));
  const torch::Tensor decoded = model->Decode(posterior.mean());
  SetFusedAttention(FusedAttention::kAuto);
  EXPECT_TENSOR_NEAR("dec_out (fused attention)", decoded, Io("dec_out"), kTol);
}

TEST_F(VaeParityTest, SeededSamplingIsReproducible) {
  AutoencoderKL model = Build();
  torch::NoGradGuard no_grad;
  const DiagonalGaussian posterior = model->Encode(Io("x"));
  const std::vector<std::optional<uint64_t>> seven(posterior.mean().size(0), 7u);
  const std::vector<std::optional<uint64_t>> eight(posterior.mean().size(0), 8u);
  EXPECT_TRUE(torch::equal(posterior.SamplePerItem(seven), posterior.SamplePerItem(seven)));
  EXPECT_FALSE(torch::equal(posterior.SamplePerItem(seven), posterior.SamplePerItem(eight)));
  EXPECT_TRUE(torch::equal(posterior.mode(), posterior.mean()));
}

TEST(DiagonalGaussianTest, PerItemSeedsMatchEachItemSampledAlone) {
  torch::manual_seed(3);
  const torch::Tensor moments = torch::randn({3, 8, 4, 4});
  const DiagonalGaussian batch(moments);
  const torch::Tensor sampled = batch.SamplePerItem({7u, std::nullopt, 9u});
  for (int64_t i : {0, 2}) {
    const DiagonalGaussian alone(moments.slice(0, i, i + 1));
    at::Generator generator = at::detail::createCPUGenerator(7 + i);
    const torch::Tensor noise = torch::randn(alone.mean().sizes(), generator, torch::kFloat32);
    EXPECT_TRUE(torch::allclose(sampled.slice(0, i, i + 1), alone.Sample(noise))) << "item " << i;
  }
  EXPECT_TRUE(torch::equal(sampled[1], batch.mean()[1]));  // no seed: the mean
  EXPECT_FALSE(torch::allclose(sampled[0], batch.mean()[0]));
  EXPECT_ANY_THROW(batch.SamplePerItem({7u}));  // one seed per item
}

TEST_F(VaeParityTest, LoadsLegacyAttentionNamesAndConvShapedWeights) {
  namespace fs = std::filesystem;
  // Rewrite the fixture weights as older diffusers stored them: mid-block
  // attention query/key/value/proj_attn, with the encoder's as 1x1 convs.
  NamedTensors legacy;
  for (const auto& [key, tensor] : weights_) {
    std::string name = absl::StrReplaceAll(key, {{".to_q.", ".query."},
                                                 {".to_k.", ".key."},
                                                 {".to_v.", ".value."},
                                                 {".to_out.0.", ".proj_attn."}});
    torch::Tensor value = tensor;
    if (name != key && name.rfind("encoder.", 0) == 0 && tensor.dim() == 2) {
      value = tensor.reshape({tensor.size(0), tensor.size(1), 1, 1});
    }
    legacy.emplace_back(name, value);
  }
  const std::string dir = testing::MakeTempDir("vae-legacy");
  ASSERT_TRUE(
      WriteTensorFile((fs::path(dir) / "diffusion_pytorch_model.safetensors").string(), legacy)
          .ok());
  fs::copy_file(testing::TestdataPath(std::string(kDir) + "/config.json"),
                fs::path(dir) / "config.json");
  auto loaded = LoadDiffusersVae(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->report.loaded, 248);
  testing::MoveToTestDevice(*loaded->model);
  torch::NoGradGuard no_grad;
  const DiagonalGaussian posterior = loaded->model->Encode(Io("x"));
  EXPECT_TENSOR_NEAR("mean (legacy names)", posterior.mean(), Io("mean"), kTol);
  EXPECT_TENSOR_NEAR("dec_out (legacy names)", loaded->model->Decode(posterior.mean()),
                     Io("dec_out"), kTol);
  fs::remove_all(dir);
}

TEST(VaeFolderTest, MissingFolderIsNotFound) {
  EXPECT_EQ(LoadDiffusersVae("/nonexistent/vae").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace codiff::models
