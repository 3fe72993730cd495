// codiff-train eval on a random tiny model: the JPEG row must equal metrics
// computed directly on the same libjpeg round trip, every requested mode and
// QF must be reported with finite values, and bad options must be refused.
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/metrics/quality_metrics.h"
#include "core/models/model_architecture.h"
#include "core/weights/model_folder.h"
#include "tests/test_support.h"
#include "tests/training/training_test_util.h"
#include "training/data/pair_dataset.h"
#include "training/eval_command.h"

namespace codiff::training {
namespace {

class EvalCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::manual_seed(11);
    auto arch = models::PresetArchitecture("tiny");
    ASSERT_TRUE(arch.ok());
    models::OneStepGenerator g = BuildGenerator(*arch);
    model_dir_ = new std::string(codiff::testing::MakeTempDir("eval_model"));
    ASSERT_TRUE(WriteModelFolder(*model_dir_, *g, {false, "test", "eval_command_test"}).ok());
    data_dir_ = new std::string(testing::WriteSyntheticImages(2, 80, 72, 3));
  }
  static std::string* model_dir_;
  static std::string* data_dir_;
};
std::string* EvalCommandTest::model_dir_ = nullptr;
std::string* EvalCommandTest::data_dir_ = nullptr;

TEST_F(EvalCommandTest, ReportsEveryModeAndMatchesDirectJpegMetrics) {
  EvalOptions o;
  o.model_dir = *model_dir_;
  o.data_dir = *data_dir_;
  o.qfs = {10, 40};
  o.modes = {"perceptual", "fidelity"};
  o.threads = 1;
  o.progress = false;
  auto report = RunEval(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ((*report)["images"].get<int>(), 2);

  // The JPEG row, recomputed here from the same files and the same encoder.
  auto files = ListImageFiles({*data_dir_});
  ASSERT_TRUE(files.ok());
  for (int qf : o.qfs) {
    double psnr = 0;
    for (const std::string& f : *files) {
      auto hq = ReadRgbImage(f);
      ASSERT_TRUE(hq.ok());
      image::EncodeOptions e;
      e.format = image::ImageFormat::kJpeg;
      e.quality = qf;
      auto bytes = image::EncodeImage(*hq, e);
      ASSERT_TRUE(bytes.ok());
      auto lq = image::DecodeImage(*bytes);
      ASSERT_TRUE(lq.ok());
      psnr += *metrics::Psnr(*hq, lq->rgb);
    }
    const auto& entry = (*report)[std::to_string(qf)];
    EXPECT_NEAR(entry["jpeg"]["psnr"].get<double>(), psnr / files->size(), 1e-9);
    for (const char* mode : {"perceptual", "fidelity"}) {
      ASSERT_TRUE(entry.contains(mode)) << mode;
      for (const char* key : {"psnr", "ssim", "psnrb", "s_per_mp"}) {
        EXPECT_TRUE(std::isfinite(entry[mode][key].get<double>())) << mode << " " << key;
      }
      EXPECT_GT(entry[mode]["s_per_mp"].get<double>(), 0.0);
    }
    // A random model's QF head says something in 0..100; the error is finite.
    const double mae = entry["qf_estimate"]["mae"].get<double>();
    EXPECT_TRUE(mae >= 0.0 && mae <= 100.0) << mae;
  }
  // Higher QF, better JPEG: the row is not a constant.
  EXPECT_GT((*report)["40"]["jpeg"]["psnr"].get<double>(),
            (*report)["10"]["jpeg"]["psnr"].get<double>());
}

TEST_F(EvalCommandTest, SppRowPicksTheBestQpWhenFfmpegIsInstalled) {
  if (std::system("ffmpeg -hide_banner -loglevel error -h filter=spp > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "ffmpeg with the spp filter is not installed";
  }
  EvalOptions o;
  o.model_dir = *model_dir_;
  o.data_dir = *data_dir_;
  o.qfs = {10};
  o.modes = {};
  o.estimate_qf = false;
  o.spp_qps = {1, 8, 20};
  o.threads = 1;
  o.progress = false;
  auto report = RunEval(o);
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& spp = (*report)["10"]["spp"];
  double best = -1;
  for (const auto& [qp, psnr] : spp["psnr_by_qp"].items())
    best = std::max(best, psnr.get<double>());
  EXPECT_DOUBLE_EQ(spp["psnr"].get<double>(), best);
  EXPECT_EQ(spp["psnr_by_qp"].size(), 3u);
}

TEST_F(EvalCommandTest, RefusesUnknownModesAndMissingData) {
  EvalOptions o;
  o.model_dir = *model_dir_;
  o.data_dir = *data_dir_;
  o.qfs = {10};
  o.modes = {"sharpest"};
  o.progress = false;
  EXPECT_EQ(RunEval(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.modes = {"fidelity"};
  o.color_fix = "sepia";
  EXPECT_EQ(RunEval(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.color_fix = "none";
  o.data_dir = codiff::testing::MakeTempDir("eval_empty");
  EXPECT_FALSE(RunEval(o).ok());
}

}  // namespace
}  // namespace codiff::training
