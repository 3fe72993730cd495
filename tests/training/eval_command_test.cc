// codiff-train eval on a random tiny model: the JPEG row (PSNR and NIQE) must
// equal metrics computed directly on the same libjpeg round trip, every
// requested mode and QF must be reported with finite values (NIQE included),
// double JPEG must crop and compress as documented, and bad options must be
// refused.
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/metrics/niqe.h"
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
    // 200 x 104: two 96 px NIQE patches per image.
    data_dir_ = new std::string(testing::WriteSyntheticImages(2, 200, 104, 3));
  }
  static std::string* model_dir_;
  static std::string* data_dir_;
};
std::string* EvalCommandTest::model_dir_ = nullptr;
std::string* EvalCommandTest::data_dir_ = nullptr;

constexpr char kPristine[] = CODIFF_TESTDATA_DIR "/../../training/niqe/pristine.json";

absl::StatusOr<image::DecodedImage> JpegOf(const image::Image& rgb, int qf) {
  image::EncodeOptions e;
  e.format = image::ImageFormat::kJpeg;
  e.quality = qf;
  auto bytes = image::EncodeImage(rgb, e);
  if (!bytes.ok()) return bytes.status();
  return image::DecodeImage(*bytes);
}

image::Image CropTopLeft(const image::Image& in, int shift) {
  image::Image out(in.width - shift, in.height - shift, in.channels);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      for (int c = 0; c < in.channels; ++c) out.at(x, y, c) = in.at(x + shift, y + shift, c);
    }
  }
  return out;
}

TEST_F(EvalCommandTest, ReportsEveryModeAndMatchesDirectJpegMetrics) {
  EvalOptions o;
  o.model_dir = *model_dir_;
  o.data_dir = *data_dir_;
  o.qfs = {10, 40};
  o.modes = {"perceptual", "fidelity"};
  o.threads = 1;
  o.progress = false;
  o.niqe_model = kPristine;
  auto report = RunEval(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ((*report)["images"].get<int>(), 2);
  auto pristine = metrics::ReadNiqeModel(kPristine);
  ASSERT_TRUE(pristine.ok()) << pristine.status();

  // The JPEG row, recomputed here from the same files and the same encoder.
  auto files = ListImageFiles({*data_dir_});
  ASSERT_TRUE(files.ok());
  for (int qf : o.qfs) {
    double psnr = 0, niqe = 0, psnr_rgb = 0;
    metrics::MetricOptions rgb;
    rgb.channels = metrics::MetricChannels::kRgb;
    for (const std::string& f : *files) {
      auto hq = ReadRgbImage(f);
      ASSERT_TRUE(hq.ok());
      auto lq = JpegOf(*hq, qf);
      ASSERT_TRUE(lq.ok());
      psnr += *metrics::Psnr(*hq, lq->rgb);
      psnr_rgb += *metrics::Psnr(*hq, lq->rgb, rgb);
      auto q = metrics::Niqe(lq->rgb, *pristine);
      ASSERT_TRUE(q.ok()) << q.status();
      niqe += *q;
    }
    const auto& entry = (*report)[std::to_string(qf)];
    EXPECT_NEAR(entry["jpeg"]["psnr"].get<double>(), psnr / files->size(), 1e-9);
    EXPECT_NEAR(entry["jpeg"]["niqe"].get<double>(), niqe / files->size(), 1e-9);
    EXPECT_NEAR(entry["jpeg"]["psnr_rgb"].get<double>(), psnr_rgb / files->size(), 1e-9);
    EXPECT_NE(entry["jpeg"]["psnr_rgb"].get<double>(), entry["jpeg"]["psnr"].get<double>());
    for (const char* mode : {"perceptual", "fidelity"}) {
      ASSERT_TRUE(entry.contains(mode)) << mode;
      for (const char* key : {"psnr", "ssim", "psnrb", "niqe", "s_per_mp", "psnr_rgb"}) {
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

TEST_F(EvalCommandTest, NoNiqeModelMeansNoNiqeAndSmallImagesAreLeftOut) {
  EvalOptions o;
  o.model_dir = *model_dir_;
  o.data_dir = *data_dir_;
  o.qfs = {20};
  o.modes = {"fidelity"};
  o.estimate_qf = false;
  o.threads = 1;
  o.progress = false;
  auto report = RunEval(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE((*report)["20"]["jpeg"].contains("niqe"));
  EXPECT_FALSE((*report)["20"]["fidelity"].contains("niqe"));
  // Images under one 96 px patch: PSNR as before, no NIQE.
  o.data_dir = testing::WriteSyntheticImages(1, 80, 72, 4);
  o.niqe_model = kPristine;
  report = RunEval(o);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE((*report)["20"]["jpeg"].contains("psnr"));
  EXPECT_FALSE((*report)["20"]["jpeg"].contains("niqe"));
  o.niqe_model = *data_dir_ + "/missing.json";
  EXPECT_EQ(RunEval(o).status().code(), absl::StatusCode::kNotFound);
}

// QF1, crop 4 px at the top and left, QF2: the JPEG row equals that recipe
// done here, and differs from a single compression at QF2.
TEST_F(EvalCommandTest, DoubleJpegRowsCropBetweenTheTwoCompressions) {
  EvalOptions o;
  o.model_dir = *model_dir_;
  o.data_dir = *data_dir_;
  o.qfs = {};
  o.modes = {"fidelity"};
  o.double_jpeg = {{30, 10}, {10, 30}};
  o.threads = 1;
  o.progress = false;
  o.niqe_model = kPristine;
  auto report = RunEval(o);
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& doubles = (*report)["double_jpeg"];
  EXPECT_EQ(doubles["shift"].get<int>(), 4);
  auto files = ListImageFiles({*data_dir_});
  ASSERT_TRUE(files.ok());
  for (auto [q1, q2] : o.double_jpeg) {
    const std::string label = std::to_string(q1) + ":" + std::to_string(q2);
    ASSERT_TRUE(doubles.contains(label)) << label;
    double psnr = 0, single = 0;
    for (const std::string& f : *files) {
      auto hq = ReadRgbImage(f);
      ASSERT_TRUE(hq.ok());
      auto once = JpegOf(*hq, q1);
      ASSERT_TRUE(once.ok());
      auto twice = JpegOf(CropTopLeft(once->rgb, 4), q2);
      ASSERT_TRUE(twice.ok());
      const image::Image ref = CropTopLeft(*hq, 4);
      EXPECT_EQ(twice->rgb.width, 196);
      psnr += *metrics::Psnr(ref, twice->rgb);
      single += *metrics::Psnr(ref, JpegOf(ref, q2)->rgb);
    }
    const auto& entry = doubles[label];
    EXPECT_NEAR(entry["jpeg"]["psnr"].get<double>(), psnr / files->size(), 1e-9) << label;
    EXPECT_GT(std::abs(entry["jpeg"]["psnr"].get<double>() - single / files->size()), 1e-3);
    for (const char* key : {"psnr", "niqe", "s_per_mp"}) {
      EXPECT_TRUE(std::isfinite(entry["fidelity"][key].get<double>())) << label << " " << key;
    }
    // The QF estimate is scored against the last QF.
    EXPECT_TRUE(entry.contains("qf_estimate"));
  }
  EXPECT_FALSE(report->contains("10"));  // no single-JPEG rows asked for
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
