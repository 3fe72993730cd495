// lcms2 colour management (core/image/color_profile.h) and the decoder's use
// of embedded profiles, on tests/testdata/color (make_color_fixtures.cc).
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/image/color_profile.h"
#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/image/image_output.h"
#include "tests/test_support.h"

namespace codiff::image {
namespace {

std::string Read(const std::string& name) {
  std::ifstream in(::codiff::testing::TestdataPath("color/" + name), std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ColorProfileTest, ProfilesAreNamedAndClassified) {
  auto p3 = ReadIccProfileInfo(Read("p3.icc"));
  ASSERT_TRUE(p3.ok()) << p3.status();
  EXPECT_EQ(p3->description, "Display P3");
  EXPECT_EQ(p3->color_space, IccColorSpace::kRgb);
  EXPECT_FALSE(p3->is_srgb);
  auto cmyk = ReadIccProfileInfo(Read("cmyk.icc"));
  ASSERT_TRUE(cmyk.ok()) << cmyk.status();
  EXPECT_EQ(cmyk->color_space, IccColorSpace::kCmyk);
  EXPECT_FALSE(ReadIccProfileInfo("not a profile").ok());
  EXPECT_FALSE(ReadIccProfileInfo("").ok());
}

TEST(ColorProfileTest, ConversionToSrgbMatchesTheReference) {
  // The Adobe RGB file's pixels through its profile land on the reference
  // (the same conversion lcms2 made when the test data was written).
  auto decoded = DecodeImage(Read("adobergb_q30.jpg"));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_FALSE(decoded->metadata.icc.empty());
  EXPECT_EQ(ColorProfileName(*decoded), "Adobe RGB (1998)");
  auto srgb = ConvertRgbToSrgb(decoded->rgb, decoded->metadata.icc);
  ASSERT_TRUE(srgb.ok()) << srgb.status();
  auto reference = DecodeImage(Read("adobergb_reference.png"));
  ASSERT_TRUE(reference.ok());
  auto converted = MeanDeltaE76(*srgb, reference->rgb);
  auto ignored = MeanDeltaE76(decoded->rgb, reference->rgb);
  ASSERT_TRUE(converted.ok() && ignored.ok());
  // JPEG at QF 30 leaves a few units; ignoring the profile adds more.
  EXPECT_LT(*converted, 6.0);
  EXPECT_GT(*ignored, *converted + 1.0) << "the profile must matter for this test to mean much";
  // Alpha passes through.
  Image rgba(2, 1, 4);
  rgba.data = {10, 200, 30, 77, 250, 0, 128, 201};
  auto with_alpha = ConvertRgbToSrgb(rgba, decoded->metadata.icc);
  ASSERT_TRUE(with_alpha.ok());
  EXPECT_EQ(with_alpha->data[3], 77);
  EXPECT_EQ(with_alpha->data[7], 201);
  EXPECT_EQ(ConvertRgbToSrgb(Image(2, 2, 1), decoded->metadata.icc).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ColorProfileTest, CmykJpegGoesThroughItsProfile) {
  auto decoded = DecodeImage(Read("cmyk_q30.jpg"));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->metadata.icc.empty()) << "converted to sRGB, so no profile left";
  EXPECT_EQ(decoded->converted_from_cmyk, "codiff test CMYK (simple ink model)");
  auto reference = DecodeImage(Read("cmyk_reference.png"));
  ASSERT_TRUE(reference.ok());
  auto e = MeanDeltaE76(decoded->rgb, reference->rgb);
  ASSERT_TRUE(e.ok());
  EXPECT_LT(*e, 6.0);
  // Without a profile: the plain formula, Adobe-inverted or not.
  Image cmyk(1, 1, 4);
  cmyk.data = {0, 255, 255, 255};  // Adobe-inverted: full cyan, no other ink
  auto plain = ConvertCmykToSrgb(cmyk, /*inverted=*/true, "");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->data, (std::vector<uint8_t>{0, 255, 255}));
  auto positive = ConvertCmykToSrgb(cmyk, /*inverted=*/false, "");  // M, Y and K full: black
  ASSERT_TRUE(positive.ok());
  EXPECT_EQ(positive->data, (std::vector<uint8_t>{0, 0, 0}));
}

TEST(ColorProfileTest, OutputKeepsOrConvertsTheProfile) {
  auto decoded = DecodeImage(Read("p3_q30.jpg"));
  ASSERT_TRUE(decoded.ok());
  EncodeOptions png;
  auto kept = EncodeOutput(decoded->rgb, png, decoded->metadata, OutputOptions());
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->color_profile, "Display P3");
  EXPECT_EQ(ReadImageMetadata(kept->bytes, ImageFormat::kPng).icc, decoded->metadata.icc);
  OutputOptions srgb;
  srgb.srgb = true;
  auto converted = EncodeOutput(decoded->rgb, png, decoded->metadata, srgb);
  ASSERT_TRUE(converted.ok());
  EXPECT_EQ(converted->color_profile, "");
  EXPECT_TRUE(ReadImageMetadata(converted->bytes, ImageFormat::kPng).icc.empty());
  ASSERT_FALSE(converted->notes.empty());
  EXPECT_NE(converted->notes.back().find("converted from Display P3 to sRGB"), std::string::npos);
  // An unreadable profile is dropped with a note, never a failure.
  ImageMetadata broken;
  broken.icc = "garbage";
  auto dropped = EncodeOutput(decoded->rgb, png, broken, OutputOptions());
  ASSERT_TRUE(dropped.ok());
  EXPECT_TRUE(ReadImageMetadata(dropped->bytes, ImageFormat::kPng).icc.empty());
  ASSERT_EQ(dropped->notes.size(), 1u);
  // Strip keeps only the profile; keep carries EXIF with orientation 1.
  auto with_exif = DecodeImage(Read("metadata.jpg"));
  ASSERT_TRUE(with_exif.ok());
  ASSERT_FALSE(with_exif->metadata.exif.empty());
  auto stripped = EncodeOutput(with_exif->rgb, png, with_exif->metadata, OutputOptions());
  ASSERT_TRUE(stripped.ok());
  const ImageMetadata s = ReadImageMetadata(stripped->bytes, ImageFormat::kPng);
  EXPECT_FALSE(s.icc.empty());
  EXPECT_TRUE(s.exif.empty() && s.xmp.empty());
  OutputOptions keep;
  keep.metadata = MetadataPolicy::kKeep;
  auto kept_all = EncodeOutput(with_exif->rgb, png, with_exif->metadata, keep);
  ASSERT_TRUE(kept_all.ok());
  const ImageMetadata k = ReadImageMetadata(kept_all->bytes, ImageFormat::kPng);
  EXPECT_EQ(k.exif, ExifWithUprightOrientation(with_exif->metadata.exif));
  EXPECT_NE(k.exif, with_exif->metadata.exif) << "orientation 6 must become 1";
  EXPECT_EQ(k.xmp, with_exif->metadata.xmp);
  EXPECT_TRUE(ParseMetadataPolicy("keep").ok());
  EXPECT_FALSE(ParseMetadataPolicy("all").ok());
}

}  // namespace
}  // namespace codiff::image
