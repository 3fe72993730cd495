// NIQE (core/metrics/niqe.h): the GGD / AGGD moment-matching estimators on
// samples of known shape, the pseudo-inverse and the 2x downscale on cases
// with known answers, and the score itself on a committed photo crop against
// the committed pristine model (training/niqe/pristine.json): JPEG QF 10 and
// a Gaussian blur must both score worse (higher) than the photo, and the score
// must not change from call to call.
#include "core/metrics/niqe.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "tests/test_support.h"

namespace codiff::metrics {
namespace {

constexpr char kPristine[] = CODIFF_TESTDATA_DIR "/../../training/niqe/pristine.json";
constexpr char kPhoto[] = CODIFF_TESTDATA_DIR "/image/photo_niqe.png";

// Samples of a generalised Gaussian with the given shape; the two sides may
// have different scales (an AGGD): P(left) = left / (left + right).
std::vector<double> GgdSamples(double shape, double left_scale, double right_scale, int n,
                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::gamma_distribution<double> g(1.0 / shape, 1.0);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> out(n);
  for (double& x : out) {
    const double magnitude = std::pow(g(rng), 1.0 / shape);
    x = u(rng) < left_scale / (left_scale + right_scale) ? -left_scale * magnitude
                                                         : right_scale * magnitude;
  }
  return out;
}

TEST(NiqeEstimatorTest, GgdRecoversGaussianAndLaplacianShapes) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0, 1.5);
  std::vector<double> gauss(200000);
  for (double& x : gauss) x = normal(rng);
  const GgdFit g = EstimateGgd(gauss);
  EXPECT_NEAR(g.shape, 2.0, 0.05);
  EXPECT_NEAR(g.variance, 2.25, 0.03);

  std::exponential_distribution<double> exponential(1.0);
  std::uniform_int_distribution<int> sign(0, 1);
  std::vector<double> laplace(200000);
  for (double& x : laplace) x = (sign(rng) ? 1 : -1) * exponential(rng);
  const GgdFit l = EstimateGgd(laplace);
  EXPECT_NEAR(l.shape, 1.0, 0.05);
  EXPECT_NEAR(l.variance, 2.0, 0.05);  // Laplace(b = 1): variance 2 b^2

  for (double shape : {0.6, 1.5, 3.0}) {
    EXPECT_NEAR(EstimateGgd(GgdSamples(shape, 1, 1, 200000, 3)).shape, shape, 0.06 * shape)
        << shape;
  }
}

TEST(NiqeEstimatorTest, AggdRecoversShapeSidesAndTheSignOfItsMean) {
  for (double shape : {1.0, 2.0}) {
    const std::vector<double> x = GgdSamples(shape, 0.5, 1.5, 200000, 5);
    const AggdFit a = EstimateAggd(x);
    EXPECT_NEAR(a.shape, shape, 0.06 * shape);
    // Variance of one side of a GGD with scale b: b^2 Gamma(3/a) / Gamma(1/a).
    const double ratio = std::tgamma(3 / shape) / std::tgamma(1 / shape);
    EXPECT_NEAR(a.left_variance, 0.25 * ratio, 0.03 * 0.25 * ratio);
    EXPECT_NEAR(a.right_variance, 2.25 * ratio, 0.03 * 2.25 * ratio);
    // The AGGD mean (b_r - b_l) Gamma(2/a) / Gamma(1/a).
    const double mean = 1.0 * std::tgamma(2 / shape) / std::tgamma(1 / shape);
    EXPECT_NEAR(a.mean, mean, 0.05 * mean);
  }
  // Mirrored samples: the mean changes sign, the sides swap.
  std::vector<double> x = GgdSamples(1.0, 0.5, 1.5, 100000, 9);
  for (double& v : x) v = -v;
  const AggdFit m = EstimateAggd(x);
  EXPECT_LT(m.mean, 0);
  EXPECT_GT(m.left_variance, m.right_variance);
}

TEST(NiqeEstimatorTest, PseudoInverseOfFullAndRankDeficientMatrices) {
  // Full rank: the inverse.
  const std::vector<double> a = {4, 1, 0, 1, 3, 1, 0, 1, 2};
  const std::vector<double> inv = SymmetricPseudoInverse(a, 3);
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += a[i * 3 + k] * inv[k * 3 + j];
      EXPECT_NEAR(s, i == j ? 1.0 : 0.0, 1e-12);
    }
  }
  // Rank one, v v^T: the pseudo-inverse is v v^T / |v|^4.
  const double v[3] = {1, 2, 2};
  std::vector<double> r(9);
  for (int i = 0; i < 9; ++i) r[i] = v[i / 3] * v[i % 3];
  const std::vector<double> p = SymmetricPseudoInverse(r, 3);
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(p[i], r[i] / 81.0, 1e-12) << i;
}

TEST(NiqeEstimatorTest, DownscaleKeepsConstantsAndHalvesTheSize) {
  std::vector<double> plane(10 * 6, 42.0);
  const std::vector<double> half = DownscaleByTwo(plane, 10, 6);
  ASSERT_EQ(half.size(), 5u * 3u);
  for (double x : half) EXPECT_NEAR(x, 42.0, 1e-9);
  // A horizontal ramp stays a ramp with twice the slope away from the
  // borders (the 10 taps of output x reach input 2x - 4 .. 2x + 5).
  std::vector<double> wide(40 * 6);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 40; ++x) wide[y * 40 + x] = x;
  }
  const std::vector<double> ramp = DownscaleByTwo(wide, 40, 6);
  ASSERT_EQ(ramp.size(), 20u * 3u);
  EXPECT_NEAR(ramp[6] - ramp[5], 2.0, 1e-9);
  EXPECT_NEAR(ramp[5], 10.5, 1e-9);  // output pixel 5 centres on input 10.5
}

// Separable Gaussian blur (clamped borders) of an RGB image.
image::Image Blur(const image::Image& in, double sigma) {
  const int r = static_cast<int>(std::ceil(3 * sigma));
  std::vector<double> taps(2 * r + 1);
  double sum = 0;
  for (int i = -r; i <= r; ++i) sum += taps[i + r] = std::exp(-0.5 * i * i / (sigma * sigma));
  for (double& t : taps) t /= sum;
  image::Image tmp = in, out = in;
  for (int pass = 0; pass < 2; ++pass) {
    const image::Image& src = pass == 0 ? in : tmp;
    image::Image& dst = pass == 0 ? tmp : out;
    for (int y = 0; y < in.height; ++y) {
      for (int x = 0; x < in.width; ++x) {
        for (int c = 0; c < in.channels; ++c) {
          double s = 0;
          for (int k = -r; k <= r; ++k) {
            const int xx = pass == 0 ? std::clamp(x + k, 0, in.width - 1) : x;
            const int yy = pass == 1 ? std::clamp(y + k, 0, in.height - 1) : y;
            s += taps[k + r] * src.at(xx, yy, c);
          }
          dst.at(x, y, c) = static_cast<uint8_t>(std::lround(std::clamp(s, 0.0, 255.0)));
        }
      }
    }
  }
  return out;
}

class NiqeScoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto model = ReadNiqeModel(kPristine);
    ASSERT_TRUE(model.ok()) << model.status();
    pristine_ = *model;
    std::ifstream in(kPhoto, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto photo = image::DecodeImage(bytes);
    ASSERT_TRUE(photo.ok()) << photo.status();
    photo_ = photo->rgb;
  }
  NiqeModel pristine_;
  image::Image photo_;
};

TEST_F(NiqeScoreTest, CommittedPristineModelIsAFitOnTrainingPhotos) {
  EXPECT_EQ(pristine_.patch_size, 96);
  EXPECT_DOUBLE_EQ(pristine_.sharpness_threshold, 0.75);
  EXPECT_GT(pristine_.patches, 1000);
  EXPECT_GT(pristine_.images, 100);
  EXPECT_NE(pristine_.source.find("train"), std::string::npos) << pristine_.source;
  EXPECT_EQ(pristine_.source.find("val"), std::string::npos) << pristine_.source;
}

TEST_F(NiqeScoreTest, JpegAndBlurScoreWorseAndTheScoreIsDeterministic) {
  auto clean = Niqe(photo_, pristine_);
  ASSERT_TRUE(clean.ok()) << clean.status();
  auto again = Niqe(photo_, pristine_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*clean, *again);
  EXPECT_TRUE(std::isfinite(*clean));
  EXPECT_GT(*clean, 0.0);

  image::EncodeOptions e;
  e.format = image::ImageFormat::kJpeg;
  e.quality = 10;
  auto bytes = image::EncodeImage(photo_, e);
  ASSERT_TRUE(bytes.ok());
  auto jpeg = image::DecodeImage(*bytes);
  ASSERT_TRUE(jpeg.ok());
  auto jpeg_score = Niqe(jpeg->rgb, pristine_);
  ASSERT_TRUE(jpeg_score.ok()) << jpeg_score.status();
  EXPECT_GT(*jpeg_score, *clean + 1.0) << "photo " << *clean << ", JPEG QF 10 " << *jpeg_score;

  auto blur_score = Niqe(Blur(photo_, 2.0), pristine_);
  ASSERT_TRUE(blur_score.ok()) << blur_score.status();
  EXPECT_GT(*blur_score, *clean + 1.0) << "photo " << *clean << ", blur " << *blur_score;
  // More blur, further from the pristine statistics.
  auto more_blur = Niqe(Blur(photo_, 4.0), pristine_);
  ASSERT_TRUE(more_blur.ok());
  EXPECT_GT(*more_blur, *blur_score);
  std::printf("NIQE photo %.3f, JPEG QF 10 %.3f, blur 2 %.3f, blur 4 %.3f\n", *clean, *jpeg_score,
              *blur_score, *more_blur);
}

TEST_F(NiqeScoreTest, SmallFlatAndAlphaImagesAreRefused) {
  EXPECT_EQ(Niqe(image::Image(95, 200, 3), pristine_).status().code(),
            absl::StatusCode::kInvalidArgument);
  image::Image flat(96, 96, 3);
  std::fill(flat.data.begin(), flat.data.end(), 128);
  EXPECT_EQ(Niqe(flat, pristine_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Niqe(image::Image(96, 96, 4), pristine_).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NiqeModelTest, FitsWritesAndReadsBack) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> normal(0, 1);
  std::vector<NiqeFeatureVector> rows(50);
  for (auto& r : rows) {
    for (double& x : r) x = normal(rng);
  }
  auto fit = FitNiqeModel(rows);
  ASSERT_TRUE(fit.ok()) << fit.status();
  fit->source = "test";
  const std::string path = codiff::testing::MakeTempDir("niqe_model") + "/m.json";
  ASSERT_TRUE(WriteNiqeModel(path, *fit).ok());
  auto read = ReadNiqeModel(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->mean, fit->mean);
  EXPECT_EQ(read->covariance, fit->covariance);
  EXPECT_EQ(read->patches, 50);
  EXPECT_EQ(FitNiqeModel(absl::MakeSpan(rows).subspan(0, 1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NiqeModelFromJson("{\"format\": \"other\"}").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(NiqeModelFromJson("not json").ok());
}

}  // namespace
}  // namespace codiff::metrics
