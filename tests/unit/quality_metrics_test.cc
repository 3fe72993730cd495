#include "core/metrics/quality_metrics.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/image/image_decoder.h"
#include "tests/test_support.h"

namespace codiff::metrics {
namespace {

using image::Image;

Image LoadRgb(const std::string& name) {
  std::ifstream f(codiff::testing::TestdataPath("image/" + name), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  auto d = image::DecodeImage(ss.str());
  EXPECT_TRUE(d.ok()) << name << ": " << d.status();
  return d.ok() ? d->rgb : Image();
}

double Must(const absl::StatusOr<double>& v) {
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : std::nan("");
}

// Expected values: skimage 0.19.3 (PSNR, SSIM) and an independent numpy
// PSNR-B, from tests/testdata/image/make_metric_expectations.py.
TEST(QualityMetricsTest, MatchesScikitImageAndReferencePsnrB) {
  std::ifstream f(codiff::testing::TestdataPath("image/metric_expectations.json"));
  ASSERT_TRUE(f.good());
  const nlohmann::json doc = nlohmann::json::parse(f);
  ASSERT_EQ(doc["cases"].size(), 2u);
  double worst_psnr = 0, worst_ssim = 0;
  for (const auto& c : doc["cases"]) {
    const Image ref = LoadRgb(c["reference"]);
    const Image test = LoadRgb(c["test"]);
    struct Variant {
      const char* tag;
      MetricOptions options;
    };
    const Variant variants[] = {{"y", {MetricChannels::kY, true}},
                                {"y_unrounded", {MetricChannels::kY, false}},
                                {"rgb", {MetricChannels::kRgb, true}}};
    for (const auto& v : variants) {
      const std::string tag = v.tag;
      const double psnr = Must(Psnr(ref, test, v.options));
      const double ssim = Must(Ssim(ref, test, v.options));
      const double psnrb = Must(PsnrB(ref, test, v.options));
      const double dp = std::abs(psnr - c["psnr_" + tag].get<double>());
      const double ds = std::abs(ssim - c["ssim_" + tag].get<double>());
      const double db = std::abs(psnrb - c["psnrb_" + tag].get<double>());
      std::printf(
          "[ metrics  ] %-15s %-11s PSNR %.4f (|d| %.1e)  SSIM %.5f (|d| %.1e)  "
          "PSNR-B %.4f (|d| %.1e)\n",
          c["test"].get<std::string>().c_str(), v.tag, psnr, dp, ssim, ds, psnrb, db);
      EXPECT_LE(dp, 1e-3) << tag;
      EXPECT_LE(ds, 1e-4) << tag;
      EXPECT_LE(db, 1e-3) << tag;
      worst_psnr = std::max({worst_psnr, dp, db});
      worst_ssim = std::max(worst_ssim, ds);
    }
  }
  std::printf("[ metrics  ] worst |diff|: PSNR/PSNR-B %.2e dB, SSIM %.2e\n", worst_psnr,
              worst_ssim);
}

Image Flat(int w, int h, int channels, uint8_t v) {
  Image im(w, h, channels);
  std::fill(im.data.begin(), im.data.end(), v);
  return im;
}

TEST(QualityMetricsTest, WorkedPsnrExample) {
  const Image a = Flat(16, 16, 3, 100);
  const Image b = Flat(16, 16, 3, 110);
  // MSE = 100 on every sample.
  EXPECT_NEAR(Must(Psnr(a, b, {MetricChannels::kRgb})), 10 * std::log10(65025.0 / 100), 1e-12);
  // On Y the step is 10 * 219 / 255 = 8.588...; rounded Y: 101.88 -> 102, 110.47 -> 110.
  EXPECT_NEAR(Must(Psnr(a, b, {MetricChannels::kY, false})),
              10 * std::log10(65025.0 / std::pow(10 * 219.0 / 255.0, 2)), 1e-9);
  EXPECT_NEAR(Must(Psnr(a, b, {MetricChannels::kY, true})), 10 * std::log10(65025.0 / 64), 1e-12);
  EXPECT_TRUE(std::isinf(Must(Psnr(a, a))));
  EXPECT_NEAR(Must(Ssim(a, a)), 1.0, 1e-12);
  EXPECT_TRUE(std::isinf(Must(PsnrB(a, a))));
}

TEST(QualityMetricsTest, WorkedPsnrBExample) {
  // 16x16 grey image of four flat 8x8 blocks: 100 110 / 120 130.
  Image blocky(16, 16, 1);
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 16; ++x)
      blocky.at(x, y) = static_cast<uint8_t>(100 + 10 * (x / 8) + 20 * (y / 8));
  }
  // Edge pairs: 16 horizontal with step 10, 16 vertical with step 20, out of
  // N_HB + N_VB = 16 * (16/8 - 1) * 2 = 32: D_B = (16*100 + 16*400) / 32 = 250.
  // No other pair differs: D_Bc = 0. eta = log2(8) / log2(16) = 0.75.
  const double bef = 0.75 * 250;
  EXPECT_NEAR(Must(PsnrB(blocky, blocky, {MetricChannels::kRgb})), 10 * std::log10(65025.0 / bef),
              1e-9);
  // BEF is measured on the test image only.
  const Image flat = Flat(16, 16, 1, 115);
  double mse = 0;
  for (uint8_t v : blocky.data) mse += (v - 115.0) * (v - 115.0);
  mse /= 256;
  EXPECT_NEAR(Must(PsnrB(blocky, flat, {MetricChannels::kRgb})), 10 * std::log10(65025.0 / mse),
              1e-9);
  EXPECT_NEAR(Must(PsnrB(flat, blocky, {MetricChannels::kRgb})),
              10 * std::log10(65025.0 / (mse + bef)), 1e-9);
}

TEST(QualityMetricsTest, RejectsMismatchedInputs) {
  const Image a = Flat(16, 16, 3, 1);
  EXPECT_EQ(Psnr(a, Flat(16, 15, 3, 1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Psnr(a, Flat(16, 16, 1, 1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Psnr(Flat(16, 16, 4, 1), Flat(16, 16, 4, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ssim(Flat(10, 40, 3, 1), Flat(10, 40, 3, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PsnrB(Flat(15, 40, 3, 1), Flat(15, 40, 3, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace codiff::metrics
