#include "core/pipeline/restorer.h"

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/pipeline/image_tensor.h"
#include "core/weights/model_folder.h"
#include "tests/test_support.h"

namespace codiff::pipeline {
namespace {

using ::codiff::testing::MaxAbsDiff;

std::string ReadFixture(const std::string& name) {
  std::ifstream f(codiff::testing::TestdataPath("image/" + name), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

image::DecodedImage Decode(const std::string& bytes) {
  auto decoded = image::DecodeImage(bytes);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? *decoded : image::DecodedImage();
}

image::DecodedImage SyntheticPng(int w, int h) {
  image::Image img(w, h, 3);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(i * 37 % 251);
  auto png = image::EncodeImage(img);
  EXPECT_TRUE(png.ok());
  return Decode(*png);
}

class RestorerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::manual_seed(0);
    generator_ = new models::OneStepGenerator(BuildGenerator(*models::PresetArchitecture("tiny")));
    restorer_ = new Restorer(*generator_, RestorerConfig());
  }
  static void TearDownTestSuite() {
    delete restorer_;
    delete generator_;
  }
  static models::OneStepGenerator* generator_;
  static Restorer* restorer_;
};
models::OneStepGenerator* RestorerTest::generator_ = nullptr;
Restorer* RestorerTest::restorer_ = nullptr;

image::DecodedImage SyntheticJpeg(int w, int h, int quality) {
  image::Image img(w, h, 3);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(i * 37 % 251);
  auto jpeg = image::EncodeImage(img, {image::ImageFormat::kJpeg, quality});
  EXPECT_TRUE(jpeg.ok());
  return Decode(*jpeg);
}

TEST(RestorerHighQualityTest, JpegsAboveTheLimitComeBackAsDecodedUnlessAsked) {
  torch::manual_seed(3);
  models::OneStepGenerator generator = BuildGenerator(*models::PresetArchitecture("tiny"));
  RestorerConfig config;
  config.max_jpeg_quality = 90;
  Restorer restorer(generator, config);
  RestoreOptions options;
  options.mode = RestoreMode::kFidelity;

  const image::DecodedImage high = SyntheticJpeg(96, 80, 98);
  ASSERT_EQ(high.jpeg_quality, 98);
  auto kept = restorer.Restore(high, options);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_NE(kept->unchanged_reason.find("JPEG quality 98"), std::string::npos)
      << kept->unchanged_reason;
  EXPECT_EQ(kept->tile_count, 0);
  EXPECT_EQ(kept->image.data, high.rgb.data);

  options.restore_high_quality_jpeg = true;
  auto forced = restorer.Restore(high, options);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_TRUE(forced->unchanged_reason.empty());
  EXPECT_GT(forced->tile_count, 0);
  EXPECT_NE(forced->image.data, high.rgb.data);  // random weights change the pixels

  // At the limit, and images without a JPEG quality, are restored.
  options.restore_high_quality_jpeg = false;
  for (const image::DecodedImage& d : {SyntheticJpeg(96, 80, 90), SyntheticPng(96, 80)}) {
    auto restored = restorer.Restore(d, options);
    ASSERT_TRUE(restored.ok()) << restored.status();
    EXPECT_TRUE(restored->unchanged_reason.empty());
    EXPECT_GT(restored->tile_count, 0);
  }
  // The QF estimate is wanted for every file.
  EXPECT_TRUE(restorer.EstimateQf(high).ok());
}

TEST(RestorerQfTest, EstimateAveragesTheQfHeadOverTrainingSizeCrops) {
  torch::manual_seed(9);
  models::ModelArchitecture arch = *models::PresetArchitecture("tiny");
  arch.cave.qf_estimate_crop = 64;
  models::OneStepGenerator generator = BuildGenerator(arch);
  Restorer restorer(generator, RestorerConfig());
  const image::DecodedImage decoded = SyntheticPng(128, 160);  // 2 x 2 crops, 32 rows left over
  auto qf = restorer.EstimateQf(decoded);
  ASSERT_TRUE(qf.ok()) << qf.status();
  torch::NoGradGuard no_grad;
  const torch::Tensor source = ImageToTensor(decoded.rgb);
  std::vector<torch::Tensor> crops;
  for (int y : {0, 64}) {
    for (int x : {0, 64}) crops.push_back(source.slice(2, y, y + 64).slice(3, x, x + 64));
  }
  const double expected =
      models::CaVEImpl::QualityFactorFromOutput(generator->cave()->PredictQf(torch::cat(crops)))
          .mean()
          .item<double>();
  EXPECT_NEAR(*qf, expected, 1e-3);
  const double whole =
      models::CaVEImpl::QualityFactorFromOutput(generator->cave()->PredictQf(source))
          .item<double>();
  EXPECT_GT(std::abs(expected - whole), 1e-3);  // the crops are not the whole image
}

TEST_F(RestorerTest, DefaultsComeFromThePreset) {
  EXPECT_EQ(restorer_->default_tiles().tile_size, 64);
  EXPECT_EQ(restorer_->default_tiles().overlap, 16);
  EXPECT_EQ(restorer_->architecture().preset, "tiny");
}

// Every input kind keeps its size and mode, in both modes, and gets a QF.
void CheckEveryInputKind(Restorer* restorer_) {
  struct Case {
    std::string name;
    image::DecodedImage decoded;
    int channels;
  };
  std::vector<Case> cases = {
      {"grey.jpg", Decode(ReadFixture("grey.jpg")), 1},
      {"rgba.png", Decode(ReadFixture("rgba.png")), 4},
      {"rgb16.png", Decode(ReadFixture("rgb16.png")), 3},
      {"cmyk.jpg", Decode(ReadFixture("cmyk.jpg")), 3},
      {"progressive.jpg", Decode(ReadFixture("progressive.jpg")), 3},
      {"orient_6.jpg", Decode(ReadFixture("orient_6.jpg")), 3},
      {"1x1", SyntheticPng(1, 1), 3},
      {"31x17", SyntheticPng(31, 17), 3},
      {"100x70 (4 tiles)", SyntheticPng(100, 70), 3},
  };
  ASSERT_EQ(cases[5].decoded.rgb.width, 32);  // 48x32 rotated by EXIF 6
  ASSERT_EQ(cases[5].decoded.rgb.height, 48);
  for (RestoreMode mode : {RestoreMode::kPerceptual, RestoreMode::kFidelity}) {
    for (const Case& c : cases) {
      // Fidelity mode shares everything but RunTiles: two kinds suffice.
      if (mode == RestoreMode::kFidelity && c.name != "rgba.png" && c.name != "31x17") continue;
      SCOPED_TRACE(c.name + (mode == RestoreMode::kFidelity ? " fidelity" : " perceptual"));
      RestoreOptions options;
      options.mode = mode;
      auto result = restorer_->Restore(c.decoded, options);
      ASSERT_TRUE(result.ok()) << result.status();
      EXPECT_EQ(result->image.width, c.decoded.rgb.width);
      EXPECT_EQ(result->image.height, c.decoded.rgb.height);
      EXPECT_EQ(result->image.channels, c.channels);
      EXPECT_GE(result->predicted_qf, 0.0f);
      EXPECT_LE(result->predicted_qf, 100.0f);
      EXPECT_GE(result->tile_count, 1);
      if (c.channels == 4) {
        for (int y = 0; y < result->image.height; ++y) {
          for (int x = 0; x < result->image.width; ++x) {
            ASSERT_EQ(result->image.at(x, y, 3), c.decoded.alpha.at(x, y)) << x << "," << y;
          }
        }
      }
    }
  }
  auto qf = restorer_->EstimateQf(cases[0].decoded);
  ASSERT_TRUE(qf.ok()) << qf.status();
  EXPECT_GE(*qf, 0.0f);
  EXPECT_LE(*qf, 100.0f);
  auto qf_big = restorer_->EstimateQf(cases.back().decoded);
  ASSERT_TRUE(qf_big.ok());
  EXPECT_GE(*qf_big, 0.0f);
  EXPECT_LE(*qf_big, 100.0f);
}

TEST_F(RestorerTest, KeepsSizeAndModeForEveryInputKind) { CheckEveryInputKind(restorer_); }

// The same on the CPU preset the bundled model uses (random weights, default tiles).
TEST(RestorerSmallPresetTest, KeepsSizeAndModeForEveryInputKind) {
  torch::manual_seed(0);
  Restorer restorer(BuildGenerator(*models::PresetArchitecture("small")), RestorerConfig());
  EXPECT_EQ(restorer.architecture().preset, "small");
  CheckEveryInputKind(&restorer);
}

TEST_F(RestorerTest, RejectsBadTileSizes) {
  const image::DecodedImage decoded = SyntheticPng(40, 40);
  for (int size : {48, 32, -64, 100}) {
    RestoreOptions options;
    options.tile_size = size;
    auto prepared = restorer_->Prepare(decoded, options);
    EXPECT_EQ(prepared.status().code(), absl::StatusCode::kInvalidArgument) << size;
  }
  RestoreOptions ok;
  ok.tile_size = 96;
  EXPECT_TRUE(restorer_->Prepare(decoded, ok).ok());
  EXPECT_EQ(restorer_->Restore(image::DecodedImage(), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RestorerTest, PerTileSeedsMatchTheGeneratorAndIgnoreBatching) {
  torch::manual_seed(5);
  const torch::Tensor tiles = torch::rand({2, 3, 64, 64});
  // Mean posterior: RunTiles == Condition + Generate.
  auto mean = restorer_->RunTiles(tiles, RestoreMode::kPerceptual, {std::nullopt, std::nullopt});
  ASSERT_TRUE(mean.ok()) << mean.status();
  torch::NoGradGuard no_grad;
  const models::Conditioning cond = (*generator_)->Condition(tiles);
  const torch::Tensor direct = ((*generator_)->Generate(cond.image, cond.context) + 1.0) / 2.0;
  EXPECT_TENSOR_NEAR("mean posterior", *mean, direct, 1e-5);
  // Seeded: tile i alone with seed s gives what Generate gives for that seed,
  // whatever else is in the batch.
  auto seeded = restorer_->RunTiles(tiles, RestoreMode::kPerceptual, {7u, 8u});
  ASSERT_TRUE(seeded.ok());
  for (int i = 0; i < 2; ++i) {
    const torch::Tensor one = tiles.slice(0, i, i + 1);
    models::GenerateOptions options;
    options.posterior_seeds = {7u + i};
    const models::Conditioning one_cond = (*generator_)->Condition(one);
    const torch::Tensor expected =
        ((*generator_)->Generate(one_cond.image, one_cond.context, options) + 1.0) / 2.0;
    EXPECT_TENSOR_NEAR("seed tile " + std::to_string(i), seeded->slice(0, i, i + 1), expected,
                       1e-5);
  }
  EXPECT_GT(MaxAbsDiff(*seeded, *mean), 1e-4);  // the seed matters
  // Restore with a seed is reproducible.
  RestoreOptions options;
  options.seed = 42;
  const image::DecodedImage decoded = SyntheticPng(90, 60);
  auto a = restorer_->Restore(decoded, options);
  auto b = restorer_->Restore(decoded, options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->image.data == b->image.data);
  // Fidelity mode == CaVE's decoder, clamped.
  auto fidelity = restorer_->RunTiles(tiles, RestoreMode::kFidelity, {std::nullopt, std::nullopt});
  ASSERT_TRUE(fidelity.ok());
  EXPECT_TENSOR_NEAR("fidelity", *fidelity,
                     (*generator_)->cave()->forward(tiles).first.clamp(0.0, 1.0), 1e-5);
  EXPECT_FALSE(restorer_->RunTiles(tiles, RestoreMode::kFidelity, {std::nullopt}).ok());
}

TEST_F(RestorerTest, PrepareRunFinishMatchesRestore) {
  const image::DecodedImage decoded = SyntheticPng(100, 70);
  RestoreOptions options;
  options.color_fix = ColorFix::kWavelet;
  auto prepared = restorer_->Prepare(decoded, options);
  ASSERT_TRUE(prepared.ok());
  EXPECT_EQ(prepared->tiles.sizes(), (std::vector<int64_t>{4, 3, 64, 64}));
  auto out = restorer_->RunTiles(prepared->tiles, options.mode, prepared->TileSeeds());
  ASSERT_TRUE(out.ok());
  auto finished = restorer_->Finish(*prepared, *out);
  auto restored = restorer_->Restore(decoded, options);
  ASSERT_TRUE(finished.ok() && restored.ok());
  EXPECT_TRUE(finished->image.data == restored->image.data);
  EXPECT_FALSE(restorer_->Finish(*prepared, out->slice(0, 0, 3)).ok());
}

TEST_F(RestorerTest, UnsetColorFixIsTheModeDefault) {
  EXPECT_EQ(DefaultColorFix(RestoreMode::kFidelity), ColorFix::kNone);
  EXPECT_EQ(DefaultColorFix(RestoreMode::kPerceptual), ColorFix::kAdain);
  const image::DecodedImage decoded = SyntheticPng(90, 60);
  for (RestoreMode mode : {RestoreMode::kFidelity, RestoreMode::kPerceptual}) {
    RestoreOptions unset;
    unset.mode = mode;
    RestoreOptions expected = unset;
    expected.color_fix = DefaultColorFix(mode);
    RestoreOptions other = unset;
    other.color_fix = mode == RestoreMode::kFidelity ? ColorFix::kAdain : ColorFix::kNone;
    auto a = restorer_->Restore(decoded, unset);
    auto b = restorer_->Restore(decoded, expected);
    auto c = restorer_->Restore(decoded, other);
    ASSERT_TRUE(a.ok() && b.ok() && c.ok());
    EXPECT_TRUE(a->image.data == b->image.data);
    EXPECT_FALSE(a->image.data == c->image.data);  // the choice matters on this image
  }
}

TEST_F(RestorerTest, JpegConsistencyBringsLumaCloserToTheOriginal) {
  image::Image original(96, 64, 3);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 96; ++x) {
      for (int c = 0; c < 3; ++c) {
        original.data[(y * 96 + x) * 3 + c] =
            static_cast<uint8_t>(128 + 80 * std::sin(0.11 * x + 0.07 * y + 2.0 * c));
      }
    }
  }
  image::EncodeOptions jpeg;
  jpeg.format = image::ImageFormat::kJpeg;
  jpeg.quality = 30;
  const image::DecodedImage decoded = Decode(*image::EncodeImage(original, jpeg));
  ASSERT_TRUE(decoded.jpeg_luma_table.has_value());
  RestoreOptions on, off;
  off.jpeg_consistency = false;
  auto projected = restorer_->Restore(decoded, on);
  auto raw = restorer_->Restore(decoded, off);
  ASSERT_TRUE(projected.ok() && raw.ok());
  // The random tiny model's output is far from the original; the projection
  // onto what the JPEG allows must bring its luma closer.
  auto luma_mse = [&](const image::Image& image) {
    const torch::Tensor a = ImageToTensor(image), b = ImageToTensor(original);
    const torch::Tensor weights = torch::tensor({0.299f, 0.587f, 0.114f}).view({1, 3, 1, 1});
    return ((a - b) * weights).sum(1).pow(2).mean().item<double>();
  };
  EXPECT_LT(luma_mse(projected->image), 0.5 * luma_mse(raw->image));
  // PNG sources have no table: nothing changes.
  const image::DecodedImage png = SyntheticPng(64, 64);
  EXPECT_TRUE(restorer_->Restore(png, on)->image.data == restorer_->Restore(png, off)->image.data);
}

TEST(RestorerFolderTest, LoadsFromAModelFolder) {
  torch::manual_seed(0);
  models::OneStepGenerator generator = BuildGenerator(*models::PresetArchitecture("tiny"));
  const std::string dir = codiff::testing::MakeTempDir("restorer_folder");
  ASSERT_TRUE(WriteModelFolder(dir, *generator, ModelProvenance()).ok());
  auto restorer = Restorer::FromModelFolder(dir, RestorerConfig());
  ASSERT_TRUE(restorer.ok()) << restorer.status();
  auto result = (*restorer)->Restore(SyntheticPng(20, 20), {});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->image.width, 20);
  EXPECT_FALSE(Restorer::FromModelFolder(dir + "/missing", RestorerConfig()).ok());
}

}  // namespace
}  // namespace codiff::pipeline
