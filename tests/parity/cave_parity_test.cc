// CaVE against tests/testdata/fixtures/cave (reference cave.py, random
// weights, fp32, eval mode). Tolerance 2e-5 per FIXTURES.md: fp32-vs-fp64
// noise there is at most 2.7e-6, while porting mistakes move outputs by 0.03+.
#include "core/models/cave.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/models/trace.h"
#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

const double kTol = testing::Tolerance(2e-5);

class CaVEParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(testing::TestdataPath("fixtures/cave/config.json"));
    ASSERT_TRUE(in.good());
    auto config = CaVEConfig::FromJson(nlohmann::json::parse(in));
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    weights_ = testing::LoadTestTensors("fixtures/cave/weights.safetensors");
    io_ = testing::OnTestDevice(testing::LoadTestTensors("fixtures/cave/io.safetensors"));
    ASSERT_FALSE(weights_.empty());
    ASSERT_FALSE(io_.empty());
  }

  CaVE Build(const CaVEConfig& config) {
    CaVE model(config);
    auto report = LoadStateDictStrict(*model, weights_);
    EXPECT_TRUE(report.ok()) << report.status();
    if (report.ok()) {
      EXPECT_EQ(report->loaded, 310) << report->Summary();
      // The 36 BatchNorm num_batches_tracked counters are not in the file.
      EXPECT_EQ(report->missing_optional.size(), 36u) << report->Summary();
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

  CaVEConfig config_;
  TensorMap weights_;
  TensorMap io_;
};

TEST_F(CaVEParityTest, ConfigFromJsonMatchesFixture) {
  EXPECT_EQ(config_.in_channels, 3);
  EXPECT_EQ(config_.out_channels, 3);
  EXPECT_EQ(config_.widths, (std::vector<int64_t>{8, 16, 32, 64}));
  EXPECT_EQ(config_.blocks_per_stage, 4);
  EXPECT_TRUE(config_.restoration_plus_one);
}

TEST_F(CaVEParityTest, EmbeddingAndQfMatchReference) {
  torch::NoGradGuard no_grad;
  CaVE model = Build(config_);
  EXPECT_TENSOR_NEAR("emb", model->VisualEmbedding(Io("x")), Io("emb"), kTol);
  EXPECT_TENSOR_NEAR("qf", model->PredictQf(Io("x")), Io("qf"), kTol);
  EXPECT_TENSOR_NEAR("emb_odd", model->VisualEmbedding(Io("x_odd")), Io("emb_odd"), kTol);
  EXPECT_TENSOR_NEAR("qf_odd", model->PredictQf(Io("x_odd")), Io("qf_odd"), kTol);
}

TEST_F(CaVEParityTest, EncodeAllEqualsSeparateCalls) {
  torch::NoGradGuard no_grad;
  CaVE model = Build(config_);
  for (const char* input : {"x", "x_odd"}) {
    const CaVEEncoding enc = model->EncodeAll(Io(input));
    EXPECT_TRUE(torch::equal(enc.tokens, model->VisualEmbedding(Io(input)))) << input;
    EXPECT_TRUE(torch::equal(enc.qf, model->PredictQf(Io(input)))) << input;
  }
}

TEST_F(CaVEParityTest, ForwardAndTraceMatchReference) {
  torch::NoGradGuard no_grad;
  CaVE model = Build(config_);
  Trace trace;
  auto [restored, qf] = model->forward(Io("x"), &trace);
  EXPECT_TENSOR_NEAR("restored", restored, Io("restored"), kTol);
  EXPECT_TENSOR_NEAR("qf_fwd", qf, Io("qf_fwd"), kTol);
  for (const char* name :
       {"head", "down1", "down2", "down3", "body_enc", "qf_pooled", "qf_logit", "body_dec",
        "up3_convT", "up3", "up2_convT", "up2", "up1_qfatt_0", "up1"}) {
    auto it = trace.find(name);
    ASSERT_NE(it, trace.end()) << "trace lacks " << name;
    EXPECT_TENSOR_NEAR(name, it->second, Io(name), kTol);
  }
  EXPECT_EQ(trace.size(), 14u);
}

TEST_F(CaVEParityTest, WithoutPlusOneRestorationDiffers) {
  torch::NoGradGuard no_grad;
  CaVEConfig config = config_;
  config.restoration_plus_one = false;
  CaVE model = Build(config);
  auto [restored, qf] = model->forward(Io("x"));
  const double diff = testing::MaxAbsDiff(restored, Io("restored"));
  std::printf("[ parity   ] %-28s max|diff| = %.3e (must exceed 1e-1)\n", "restored (no +1)", diff);
  EXPECT_GT(diff, 0.1);
  // The quirk lives in the decoder only.
  EXPECT_TENSOR_NEAR("qf_fwd (no +1)", qf, Io("qf_fwd"), kTol);
}

TEST_F(CaVEParityTest, ForwardRejectsSizesNotMultipleOf32) {
  torch::NoGradGuard no_grad;
  CaVE model = Build(config_);
  try {
    model->forward(Io("x_odd"));
    ADD_FAILURE() << "forward accepted a 70x100 input";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 32"), std::string::npos) << e.what();
  }
}

TEST_F(CaVEParityTest, EmbeddingRejectsInputsTooSmallForOneToken) {
  torch::NoGradGuard no_grad;
  CaVE model = Build(config_);
  const auto zeros = [](std::vector<int64_t> shape) {
    return torch::zeros(
        shape, torch::TensorOptions().device(testing::TestDevice()).dtype(testing::TestDtype()));
  };
  EXPECT_THROW(model->VisualEmbedding(zeros({1, 3, 20, 64})), c10::Error);
  EXPECT_THROW(model->VisualEmbedding(zeros({1, 1, 64, 64})), c10::Error);
  // 25 pads to 32, the smallest size that still gives a token.
  EXPECT_EQ(model->VisualEmbedding(zeros({1, 3, 25, 64})).sizes(),
            (std::vector<int64_t>{1, 2, 64}));
}

TEST(CaVEConfigTest, FromJsonRejectsBadConfigs) {
  EXPECT_FALSE(CaVEConfig::FromJson(nlohmann::json::array()).ok());
  EXPECT_FALSE(
      CaVEConfig::FromJson({{"in_nc", 3}, {"out_nc", 3}, {"nc", {8, 16, 32}}, {"nb", 4}}).ok());
  EXPECT_FALSE(
      CaVEConfig::FromJson({{"in_nc", 3}, {"out_nc", 3}, {"nc", {8, 16, 32, 64}}, {"nb", 0}}).ok());
  EXPECT_FALSE(CaVEConfig::FromJson({{"in_nc", 3},
                                     {"out_nc", 3},
                                     {"nc", {8, 16, 32, 64}},
                                     {"nb", 4},
                                     {"upsample_mode", "pixelshuffle"}})
                   .ok());
  auto ok = CaVEConfig::FromJson({{"in_nc", 3}, {"out_nc", 3}, {"nc", {8, 16, 32, 64}}, {"nb", 2}});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->blocks_per_stage, 2);
}

}  // namespace
}  // namespace codiff::models
