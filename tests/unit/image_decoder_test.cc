#include "core/image/image_decoder.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/image/exif_orientation.h"
#include "core/image/image_encoder.h"
#include "core/image/jpeg_header.h"
#include "tests/test_support.h"

namespace codiff::image {
namespace {

std::string ReadFixture(const std::string& name) {
  std::ifstream f(codiff::testing::TestdataPath("image/" + name), std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

DecodedImage MustDecode(const std::string& bytes) {
  auto d = DecodeImage(bytes);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? *std::move(d) : DecodedImage();
}

double MeanAbsDiff(const Image& a, const Image& b) {
  EXPECT_EQ(a.data.size(), b.data.size());
  if (a.data.size() != b.data.size() || a.data.empty()) return 1e9;
  double s = 0;
  for (size_t i = 0; i < a.data.size(); ++i) s += std::abs(int{a.data[i]} - int{b.data[i]});
  return s / static_cast<double>(a.data.size());
}

std::string CvEncode(const std::string& ext, const cv::Mat& m, std::vector<int> params = {}) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf, params));
  return std::string(buf.begin(), buf.end());
}

// 48x32 BGR image: 16x16 blocks, each a distinct colour.
cv::Mat BlockPattern() {
  cv::Mat m(32, 48, CV_8UC3);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 48; ++x) {
      const int b = (y / 16) * 3 + x / 16;
      m.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(b * 40), static_cast<uint8_t>(x * 5),
                                        static_cast<uint8_t>(y * 7));
    }
  }
  return m;
}

// A 254-byte PNG whose text chunk after the image claims 2 GB: libpng
// would allocate that before reading it (found by fuzzing); the chunk walk
// refuses it first.
TEST(ImageDecoderTest, PngChunkLongerThanTheFileIsRefusedBeforeDecoding) {
  const std::string bytes = ReadFixture("png_text_chunk_claims_2gb.png");
  ASSERT_EQ(bytes.size(), 254u);
  auto decoded = DecodeImage(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("past the end of the file"), std::string::npos)
      << decoded.status();
  // A valid PNG cut short inside a chunk is refused the same way.
  const std::string png = ReadFixture("small_rgb.png");
  auto cut = ProbeImage(png.substr(0, png.size() - 20));
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ProbeImage(png).ok());
}

TEST(ImageDecoderTest, ColourPngRoundTripIsExact) {
  const DecodedImage d = MustDecode(ReadFixture("small_rgb.png"));
  EXPECT_EQ(d.format, ImageFormat::kPng);
  EXPECT_EQ(d.rgb.width, 64);
  EXPECT_EQ(d.rgb.height, 48);
  EXPECT_EQ(d.rgb.channels, 3);
  EXPECT_FALSE(d.grey);
  EXPECT_FALSE(d.has_alpha());
  EXPECT_FALSE(d.source_16bit);
  auto png = EncodeImage(d.rgb);
  ASSERT_TRUE(png.ok()) << png.status();
  const DecodedImage again = MustDecode(*png);
  EXPECT_EQ(again.rgb.data, d.rgb.data);
}

TEST(ImageDecoderTest, ChannelOrderIsRgb) {
  cv::Mat bgr(8, 8, CV_8UC3, cv::Scalar(10, 20, 200));  // OpenCV order: B, G, R.
  const DecodedImage d = MustDecode(CvEncode(".png", bgr));
  EXPECT_EQ(d.rgb.at(3, 3, 0), 200);
  EXPECT_EQ(d.rgb.at(3, 3, 1), 20);
  EXPECT_EQ(d.rgb.at(3, 3, 2), 10);
}

TEST(ImageDecoderTest, JpegQualityComesFromTheTablesAndOnlyForJpeg) {
  Image img(40, 24, 3);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(i * 13 % 256);
  for (int quality : {12, 85, 98}) {
    auto jpg = EncodeImage(img, {ImageFormat::kJpeg, quality});
    ASSERT_TRUE(jpg.ok());
    EXPECT_EQ(MustDecode(*jpg).jpeg_quality, quality);
  }
  auto png = EncodeImage(img);
  ASSERT_TRUE(png.ok());
  EXPECT_FALSE(MustDecode(*png).jpeg_quality.has_value());
}

TEST(ImageDecoderTest, GreyJpegIsFlaggedAndComesBackGrey) {
  const DecodedImage d = MustDecode(ReadFixture("grey.jpg"));
  EXPECT_TRUE(d.grey);
  EXPECT_EQ(d.rgb.channels, 3);
  for (size_t i = 0; i < d.rgb.data.size(); i += 3) {
    ASSERT_EQ(d.rgb.data[i], d.rgb.data[i + 1]);
    ASSERT_EQ(d.rgb.data[i], d.rgb.data[i + 2]);
  }
  auto restored = RestoreSourceMode(d.rgb, d);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->channels, 1);
  for (size_t i = 0; i < restored->data.size(); ++i) {
    ASSERT_EQ(restored->data[i], d.rgb.data[3 * i]);
  }
  auto jpg = EncodeImage(*restored, {ImageFormat::kJpeg, 85});
  ASSERT_TRUE(jpg.ok());
  auto header = ParseJpegHeader(*jpg);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->components, 1);
  EXPECT_EQ(header->qf, 85);
  EXPECT_TRUE(MustDecode(*jpg).grey);
}

TEST(ImageDecoderTest, AlphaSurvivesDecodeEncodeDecode) {
  const DecodedImage d = MustDecode(ReadFixture("rgba.png"));
  ASSERT_TRUE(d.has_alpha());
  EXPECT_FALSE(d.grey);
  EXPECT_EQ(d.alpha.channels, 1);
  EXPECT_EQ(d.alpha.at(0, 10), 0);     // Ramp from transparent ...
  EXPECT_EQ(d.alpha.at(63, 10), 255);  // ... to opaque.
  EXPECT_EQ(d.alpha.at(32, 0), 130);   // round(32 * 255 / 63)
  // The colour under alpha is the photo's, not premultiplied.
  const DecodedImage plain = MustDecode(ReadFixture("small_rgb.png"));
  EXPECT_EQ(d.rgb.data, plain.rgb.data);

  auto rgba = RestoreSourceMode(d.rgb, d);
  ASSERT_TRUE(rgba.ok());
  ASSERT_EQ(rgba->channels, 4);
  auto png = EncodeImage(*rgba);
  ASSERT_TRUE(png.ok());
  const DecodedImage again = MustDecode(*png);
  ASSERT_TRUE(again.has_alpha());
  EXPECT_EQ(again.alpha.data, d.alpha.data);
  EXPECT_EQ(again.rgb.data, d.rgb.data);

  auto webp = EncodeImage(*rgba, {ImageFormat::kWebp, 90});
  ASSERT_TRUE(webp.ok()) << webp.status();
  const DecodedImage from_webp = MustDecode(*webp);
  ASSERT_TRUE(from_webp.has_alpha());
  EXPECT_LT(MeanAbsDiff(from_webp.alpha, d.alpha), 2.0);

  auto jpg = EncodeImage(*rgba, {ImageFormat::kJpeg, 90});
  EXPECT_EQ(jpg.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ImageDecoderTest, SixteenBitPngIsScaledAndFlagged) {
  const DecodedImage d = MustDecode(ReadFixture("rgb16.png"));
  EXPECT_TRUE(d.source_16bit);
  const DecodedImage plain = MustDecode(ReadFixture("small_rgb.png"));
  EXPECT_FALSE(plain.source_16bit);
  // The fixture holds v * 257 for each 8-bit v, so scaling must return v.
  EXPECT_EQ(d.rgb.data, plain.rgb.data);

  cv::Mat grey16(10, 12, CV_16UC1, cv::Scalar(65535));
  grey16.at<uint16_t>(0, 0) = 0;
  grey16.at<uint16_t>(0, 1) = 128 * 257 + 129;  // 128.502: rounds up, truncation would not.
  grey16.at<uint16_t>(0, 2) = 200;              // 200/257 = 0.78 -> 1.
  const DecodedImage g = MustDecode(CvEncode(".png", grey16));
  EXPECT_TRUE(g.source_16bit);
  EXPECT_TRUE(g.grey);
  EXPECT_EQ(g.rgb.at(0, 0), 0);
  EXPECT_EQ(g.rgb.at(1, 0), 129);
  EXPECT_EQ(g.rgb.at(2, 0), 1);
  EXPECT_EQ(g.rgb.at(5, 5), 255);
}

TEST(ImageDecoderTest, CmykJpegDecodesToRgb) {
  const std::string bytes = ReadFixture("cmyk.jpg");
  auto header = ParseJpegHeader(bytes);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->components, 4);
  const DecodedImage d = MustDecode(bytes);
  EXPECT_EQ(d.rgb.channels, 3);
  const DecodedImage plain = MustDecode(ReadFixture("small_rgb.png"));
  const double mad = MeanAbsDiff(d.rgb, plain.rgb);
  std::printf("[ cmyk     ] mean |CMYK decode - original| = %.2f\n", mad);
  EXPECT_LT(mad, 8.0);  // Inverted (Adobe) CMYK decoded as positive would be ~100.
}

TEST(ImageDecoderTest, ProgressiveJpegDecodes) {
  const std::string bytes = ReadFixture("progressive.jpg");
  auto header = ParseJpegHeader(bytes);
  ASSERT_TRUE(header.ok());
  EXPECT_TRUE(header->progressive);
  const DecodedImage d = MustDecode(bytes);
  const DecodedImage plain = MustDecode(ReadFixture("small_rgb.png"));
  const double mad = MeanAbsDiff(d.rgb, plain.rgb);
  std::printf("[ progress ] mean |progressive q90 decode - original| = %.2f\n", mad);
  EXPECT_LT(mad, 5.0);
}

TEST(ImageDecoderTest, OtherFormatsDecode) {
  const cv::Mat bgr = BlockPattern();
  const DecodedImage ref = MustDecode(CvEncode(".png", bgr));
  const std::vector<std::pair<std::string, ImageFormat>> formats = {
      {".bmp", ImageFormat::kBmp}, {".tiff", ImageFormat::kTiff}, {".webp", ImageFormat::kWebp}};
  for (const auto& [ext, format] : formats) {
    // WebP quality above 100 selects lossless.
    const std::string bytes = CvEncode(
        ext, bgr,
        ext == ".webp" ? std::vector<int>{cv::IMWRITE_WEBP_QUALITY, 101} : std::vector<int>{});
    auto info = ProbeImage(bytes);
    ASSERT_TRUE(info.ok()) << ext << info.status();
    EXPECT_EQ(info->format, format);
    EXPECT_EQ(info->width, 48);
    EXPECT_EQ(info->height, 32);
    const DecodedImage d = MustDecode(bytes);
    EXPECT_EQ(d.format, format);
    EXPECT_EQ(d.rgb.data, ref.rgb.data) << ext;
  }
  auto lossy = EncodeImage(ref.rgb, {ImageFormat::kWebp, 80});
  ASSERT_TRUE(lossy.ok());
  auto info = ProbeImage(*lossy);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->width, 48);
  EXPECT_LT(MeanAbsDiff(MustDecode(*lossy).rgb, ref.rgb), 6.0);
}

// Stored fixture: 2 rows x 3 columns of 16x16 blocks, colours A..F (see
// make_fixtures.py). Expected display layouts, written out by hand from the
// EXIF definition of each orientation.
TEST(ImageDecoderTest, ExifOrientationsLandPixelsWhereExpected) {
  const std::vector<std::array<int, 3>> colours = {{255, 0, 0},   {0, 255, 0},   {0, 0, 255},
                                                   {255, 255, 0}, {0, 255, 255}, {255, 0, 255}};
  enum { A, B, C, D, E, F };
  const std::vector<std::vector<std::vector<int>>> layouts = {
      {{A, B, C}, {D, E, F}},    // 1
      {{C, B, A}, {F, E, D}},    // 2 mirrored left-right
      {{F, E, D}, {C, B, A}},    // 3 rotated 180
      {{D, E, F}, {A, B, C}},    // 4 mirrored top-bottom
      {{A, D}, {B, E}, {C, F}},  // 5 transposed
      {{D, A}, {E, B}, {F, C}},  // 6 needs 90 degrees clockwise
      {{F, C}, {E, B}, {D, A}},  // 7 transverse
      {{C, F}, {B, E}, {A, D}},  // 8 needs 90 degrees counter-clockwise
  };
  auto check = [&](const DecodedImage& d, int o, int tolerance) {
    const auto& layout = layouts[o - 1];
    ASSERT_EQ(d.rgb.height, 16 * static_cast<int>(layout.size())) << o;
    ASSERT_EQ(d.rgb.width, 16 * static_cast<int>(layout[0].size())) << o;
    for (size_t row = 0; row < layout.size(); ++row) {
      for (size_t col = 0; col < layout[row].size(); ++col) {
        const auto& want = colours[layout[row][col]];
        for (int c = 0; c < 3; ++c) {
          const int got =
              d.rgb.at(static_cast<int>(col) * 16 + 8, static_cast<int>(row) * 16 + 8, c);
          EXPECT_NEAR(got, want[c], tolerance)
              << "orientation " << o << " block " << row << "," << col;
        }
      }
    }
  };
  for (int o = 1; o <= 8; ++o) {
    const DecodedImage d = MustDecode(ReadFixture("orient_" + std::to_string(o) + ".jpg"));
    EXPECT_EQ(d.exif_orientation, o);
    check(d, o, 12);
  }
  // TIFF: OpenCV applies the tag while decoding; we must not apply it again.
  const DecodedImage tiff = MustDecode(ReadFixture("orient_6.tiff"));
  EXPECT_EQ(tiff.format, ImageFormat::kTiff);
  EXPECT_EQ(tiff.exif_orientation, 1);
  check(tiff, 6, 0);
}

// APP1 with a big-endian TIFF header holding only the Orientation tag.
std::string ExifApp1(int orientation, bool corrupt_ifd_offset = false) {
  std::string tiff("MM\0*", 4);
  tiff += corrupt_ifd_offset ? std::string("\x00\x00\xFF\xF0", 4) : std::string("\0\0\0\x08", 4);
  tiff += std::string("\0\x01", 2);                      // One entry.
  tiff += std::string("\x01\x12\x00\x03\0\0\0\x01", 8);  // Tag 0x0112, SHORT, count 1.
  tiff +=
      std::string(1, '\0') + std::string(1, static_cast<char>(orientation)) + std::string(2, '\0');
  tiff += std::string(4, '\0');  // No next IFD.
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  std::string seg("\xFF\xE1", 2);
  const int len = static_cast<int>(payload.size()) + 2;
  seg.push_back(static_cast<char>(len >> 8));
  seg.push_back(static_cast<char>(len & 255));
  return seg + payload;
}

TEST(ImageDecoderTest, JpegLumaTableOnlyWhenTheGridIsTheImages) {
  const std::string jpg = CvEncode(".jpg", BlockPattern(), {cv::IMWRITE_JPEG_QUALITY, 40});
  const DecodedImage upright = MustDecode(jpg);
  ASSERT_TRUE(upright.jpeg_luma_table.has_value());
  EXPECT_EQ(*upright.jpeg_luma_table, IjgScaledTable(40, /*chroma=*/false));
  // Rotated by EXIF: the 8x8 grid no longer starts at the decoded origin.
  EXPECT_FALSE(MustDecode(jpg.substr(0, 2) + ExifApp1(6) + jpg.substr(2)).jpeg_luma_table);
  cv::Mat grey;
  cv::cvtColor(BlockPattern(), grey, cv::COLOR_BGR2GRAY);
  const DecodedImage grey_jpeg = MustDecode(CvEncode(".jpg", grey, {cv::IMWRITE_JPEG_QUALITY, 70}));
  ASSERT_TRUE(grey_jpeg.jpeg_luma_table.has_value());
  EXPECT_EQ(*grey_jpeg.jpeg_luma_table, IjgScaledTable(70, false));
  EXPECT_FALSE(MustDecode(CvEncode(".png", BlockPattern())).jpeg_luma_table);
}

TEST(ImageDecoderTest, HandBuiltBigEndianExifIsApplied) {
  const std::string jpg = CvEncode(".jpg", BlockPattern(), {cv::IMWRITE_JPEG_QUALITY, 95});
  const DecodedImage upright = MustDecode(jpg);
  const std::string rotated = jpg.substr(0, 2) + ExifApp1(6) + jpg.substr(2);
  const DecodedImage d = MustDecode(rotated);
  EXPECT_EQ(d.exif_orientation, 6);
  ASSERT_EQ(d.rgb.width, 32);
  ASSERT_EQ(d.rgb.height, 48);
  // Orientation 6: stored (x, y) is displayed at (H - 1 - y, x).
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 48; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(d.rgb.at(31 - y, x, c), upright.rgb.at(x, y, c));
      }
    }
  }
  // A broken IFD offset is ignored: the image decodes upright.
  const DecodedImage broken = MustDecode(jpg.substr(0, 2) + ExifApp1(6, true) + jpg.substr(2));
  EXPECT_EQ(broken.exif_orientation, 1);
  EXPECT_EQ(broken.rgb.data, upright.rgb.data);
  // Out-of-range values count as upright.
  EXPECT_EQ(MustDecode(jpg.substr(0, 2) + ExifApp1(9) + jpg.substr(2)).exif_orientation, 1);
}

uint32_t Crc32(std::string_view s) {
  uint32_t c = 0xFFFFFFFFu;
  for (char ch : s) {
    c ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return ~c;
}

std::string PngChunk(const std::string& type, const std::string& data) {
  std::string out;
  for (uint32_t v : {static_cast<uint32_t>(data.size())}) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 255));
  }
  out += type + data;
  const uint32_t crc = Crc32(type + data);
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((crc >> (8 * i)) & 255));
  return out;
}

TEST(ImageDecoderTest, PngExifOrientationIsApplied) {
  const std::string png = CvEncode(".png", BlockPattern());
  const std::string exif = ExifApp1(3).substr(4 + 6);  // Bare TIFF, as eXIf holds it.
  const std::string with_exif = png.substr(0, 33) + PngChunk("eXIf", exif) + png.substr(33);
  const DecodedImage upright = MustDecode(png);
  const DecodedImage d = MustDecode(with_exif);
  EXPECT_EQ(d.exif_orientation, 3);
  EXPECT_EQ(d.rgb.at(0, 0, 0), upright.rgb.at(47, 31, 0));
  EXPECT_EQ(d.rgb.at(47, 31, 1), upright.rgb.at(0, 0, 1));
  EXPECT_EQ(d.rgb.data, ApplyExifOrientation(upright.rgb, 3).data);
}

void ExpectInvalid(const std::string& bytes, const std::string& needle) {
  auto r = DecodeImage(bytes);
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(std::string(r.status().message()).find(needle), std::string::npos)
      << r.status().message();
}

TEST(ImageDecoderTest, EmptyAndRandomBytesAreRejected) {
  ExpectInvalid("", "empty input");
  ExpectInvalid(std::string(1000, '\0'), "not a recognised image format");
  std::mt19937 rng(7);
  for (size_t len : {1, 2, 7, 64, 1000, 100000}) {
    std::string noise(len, '\0');
    for (char& c : noise) c = static_cast<char>(rng() & 255);
    ExpectInvalid(noise, "not a recognised image format");
  }
  ExpectInvalid("P6\n2 2\n255\n............", "not a recognised image format");  // PPM.
}

TEST(ImageDecoderTest, TruncatedJpegsAreRejectedAtEveryOffset) {
  const std::string jpg = CvEncode(".jpg", BlockPattern(), {cv::IMWRITE_JPEG_QUALITY, 90});
  auto header = ParseJpegHeader(jpg);
  ASSERT_TRUE(header.ok());
  int rejected = 0;
  for (size_t len = 1; len < jpg.size(); ++len) {
    auto r = DecodeImage(std::string_view(jpg).substr(0, len));
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes decoded";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    if (len >= 2) {
      EXPECT_NE(std::string(r.status().message()).find("JPEG truncated"), std::string::npos)
          << len << ": " << r.status().message();
    }
    ++rejected;
  }
  std::printf("[ truncate ] DecodeImage rejected %d/%zu JPEG prefixes\n", rejected, jpg.size() - 1);
  EXPECT_TRUE(DecodeImage(jpg).ok());
}

TEST(ImageDecoderTest, TruncatedAndMutatedFilesNeverCrash) {
  const cv::Mat bgr = BlockPattern();
  std::mt19937 rng(99);
  for (const std::string ext : {".png", ".webp", ".bmp", ".tiff", ".jpg"}) {
    const std::string bytes = CvEncode(ext, bgr);
    // Every proper prefix of every format is an error.
    for (size_t len = 0; len < bytes.size(); ++len) {
      ASSERT_FALSE(DecodeImage(std::string_view(bytes).substr(0, len)).ok()) << ext << " " << len;
    }
    // Random byte edits (header ones included) may decode or fail, but must
    // not crash; run under CODIFF_SANITIZE to catch memory errors.
    int decoded = 0;
    for (int i = 0; i < 300; ++i) {
      std::string m = bytes;
      const size_t span = i % 2 == 0 ? std::min<size_t>(m.size(), 64) : m.size();
      for (int e = 0; e < 4; ++e) m[rng() % span] = static_cast<char>(rng() & 255);
      decoded += DecodeImage(m).ok();
    }
    std::printf("[ mutate   ] %s: %d/300 mutated files still decode\n", ext.c_str(), decoded);
  }
}

TEST(ImageDecoderTest, OversizedHeadersAreRejectedBeforeDecoding) {
  // JPEG: frame header patched to 65535 x 65535 (the format's maximum).
  std::string jpg = CvEncode(".jpg", BlockPattern(), {cv::IMWRITE_JPEG_QUALITY, 90});
  const size_t sof = jpg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpg.replace(sof + 5, 4, "\xFF\xFF\xFF\xFF");
  auto r = DecodeImage(jpg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();

  // PNG: signature + IHDR claiming 100000 x 100000 and nothing else. Had it
  // reached the decoder it would fail as corrupt, not as too large.
  std::string ihdr;
  for (uint32_t v : {100000u, 100000u}) {
    for (int i = 3; i >= 0; --i) ihdr.push_back(static_cast<char>((v >> (8 * i)) & 255));
  }
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + PngChunk("IHDR", ihdr);
  r = DecodeImage(png);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted) << r.status();
  EXPECT_NE(std::string(r.status().message()).find("100000x100000"), std::string::npos);

  // Each limit on its own.
  const std::string small = CvEncode(".png", BlockPattern());
  ImageLimits tight;
  tight.max_bytes = 100;
  EXPECT_EQ(DecodeImage(small, tight).status().code(), absl::StatusCode::kResourceExhausted);
  tight = ImageLimits();
  tight.max_side = 40;
  EXPECT_EQ(DecodeImage(small, tight).status().code(), absl::StatusCode::kResourceExhausted);
  tight = ImageLimits();
  tight.max_pixels = 48 * 32 - 1;
  EXPECT_EQ(DecodeImage(small, tight).status().code(), absl::StatusCode::kResourceExhausted);
  tight.max_pixels = 48 * 32;
  EXPECT_TRUE(DecodeImage(small, tight).ok());
}

TEST(ImageEncoderTest, QualityAndArgumentChecks) {
  const DecodedImage d = MustDecode(ReadFixture("small_rgb.png"));
  auto jpg = EncodeImage(d.rgb, {ImageFormat::kJpeg, 42});
  ASSERT_TRUE(jpg.ok());
  auto header = ParseJpegHeader(*jpg);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->qf, 42);
  EXPECT_EQ(header->components, 3);
  EXPECT_EQ(EncodeImage(d.rgb, {ImageFormat::kJpeg, 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeImage(d.rgb, {ImageFormat::kWebp, 101}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeImage(d.rgb, {ImageFormat::kBmp, 90}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeImage(Image()).status().code(), absl::StatusCode::kInvalidArgument);
  Image grey(20, 10, 1);
  for (size_t i = 0; i < grey.data.size(); ++i) grey.data[i] = static_cast<uint8_t>(i);
  auto gpng = EncodeImage(grey);
  ASSERT_TRUE(gpng.ok());
  const DecodedImage g = MustDecode(*gpng);
  EXPECT_TRUE(g.grey);
  EXPECT_EQ(g.rgb.at(7, 3, 2), grey.at(7, 3));
  auto gwebp = EncodeImage(grey, {ImageFormat::kWebp, 90});
  ASSERT_TRUE(gwebp.ok()) << gwebp.status();
  EXPECT_EQ(MustDecode(*gwebp).rgb.width, 20);
}

}  // namespace
}  // namespace codiff::image
