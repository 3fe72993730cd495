#include "core/image/jpeg_header.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/test_support.h"

namespace codiff::image {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Smooth gradient plus texture, so every quality level produces real scans.
cv::Mat TestPattern(int channels) {
  cv::Mat m(40, 56, CV_8UC(channels));
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x) {
      for (int c = 0; c < channels; ++c) {
        m.ptr<uint8_t>(y)[x * channels + c] =
            static_cast<uint8_t>((x * 4 + y * 3 + c * 60 + ((x * y) % 7) * 9) & 255);
      }
    }
  }
  return m;
}

std::string EncodeJpeg(const cv::Mat& m, std::vector<int> params) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(".jpg", m, buf, params));
  return std::string(buf.begin(), buf.end());
}

TEST(JpegHeaderTest, EveryLibjpegQualityIsRecoveredExactlyColourAndGrey) {
  int exact_colour = 0, exact_grey = 0;
  for (int channels : {3, 1}) {
    const cv::Mat pattern = TestPattern(channels);
    for (int q = 1; q <= 100; ++q) {
      const std::string jpg = EncodeJpeg(pattern, {cv::IMWRITE_JPEG_QUALITY, q});
      auto info = ParseJpegHeader(jpg);
      ASSERT_TRUE(info.ok()) << info.status();
      ASSERT_TRUE(info->has_qf);
      EXPECT_EQ(info->qf, q) << "channels " << channels;
      EXPECT_TRUE(info->qf_exact) << "q " << q << " channels " << channels;
      EXPECT_EQ(info->qf_distance, 0.0);
      EXPECT_EQ(info->components, channels);
      if (info->qf == q && info->qf_exact) ++(channels == 3 ? exact_colour : exact_grey);
    }
  }
  std::printf("[ qf sweep ] exact header QF: colour %d/100, grey %d/100\n", exact_colour,
              exact_grey);
}

TEST(JpegHeaderTest, DistinctQualitiesGiveDistinctTables) {
  std::set<std::array<uint16_t, 64>> luma;
  std::set<std::pair<std::array<uint16_t, 64>, std::array<uint16_t, 64>>> both;
  std::vector<int> chroma_dupes;
  std::set<std::array<uint16_t, 64>> chroma;
  for (int q = 1; q <= 100; ++q) {
    luma.insert(IjgScaledTable(q, false));
    both.insert({IjgScaledTable(q, false), IjgScaledTable(q, true)});
    if (!chroma.insert(IjgScaledTable(q, true)).second) chroma_dupes.push_back(q);
  }
  // Luma alone already separates all 100 qualities, so grey files are
  // unambiguous too. Chroma alone does not: q = 1, 2, 3 all saturate at 255.
  EXPECT_EQ(luma.size(), 100u);
  EXPECT_EQ(both.size(), 100u);
  EXPECT_EQ(chroma_dupes, (std::vector<int>{2, 3}));
}

TEST(JpegHeaderTest, TablesAreReportedInNaturalOrder) {
  const std::string jpg = EncodeJpeg(TestPattern(3), {cv::IMWRITE_JPEG_QUALITY, 50});
  auto info = ParseJpegHeader(jpg);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_GE(info->quant_tables.size(), 2u);
  const JpegQuantTable& luma = info->quant_tables[info->component_info[0].quant_table_index];
  // At q = 50 libjpeg writes the Annex K table unchanged. Row 0 is 16 11 10 16,
  // column 0 is 16 12 14 14: a zigzag-order array would have 12 at index 2.
  EXPECT_EQ(luma.natural[0], 16);
  EXPECT_EQ(luma.natural[1], 11);
  EXPECT_EQ(luma.natural[2], 10);
  EXPECT_EQ(luma.natural[8], 12);
  EXPECT_EQ(luma.natural[63], 99);
  EXPECT_EQ(luma.precision, 8);
}

TEST(JpegHeaderTest, GeometryAndSubsampling) {
  auto colour = ParseJpegHeader(EncodeJpeg(TestPattern(3), {cv::IMWRITE_JPEG_QUALITY, 80}));
  ASSERT_TRUE(colour.ok()) << colour.status();
  EXPECT_EQ(colour->width, 56);
  EXPECT_EQ(colour->height, 40);
  EXPECT_EQ(colour->subsampling, "4:2:0");  // libjpeg's default.
  EXPECT_FALSE(colour->progressive);
  EXPECT_EQ(colour->sof_marker, 0xC0);
  EXPECT_EQ(colour->scans, 1);
  EXPECT_TRUE(colour->has_jfif);

  auto grey = ParseJpegHeader(EncodeJpeg(TestPattern(1), {cv::IMWRITE_JPEG_QUALITY, 80}));
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->subsampling, "4:0:0");

  auto full = ParseJpegHeader(ReadFile(codiff::testing::TestdataPath("image/orient_1.jpg")));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->subsampling, "4:4:4");  // cjpeg -sample 1x1.
  EXPECT_GT(full->exif_size, 0u);
  EXPECT_EQ(full->qf, 95);
  EXPECT_TRUE(full->qf_exact);
}

TEST(JpegHeaderTest, ProgressiveAndRestartIntervals) {
  const std::string prog =
      EncodeJpeg(TestPattern(3), {cv::IMWRITE_JPEG_QUALITY, 63, cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  auto p = ParseJpegHeader(prog);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->progressive);
  EXPECT_EQ(p->sof_marker, 0xC2);
  EXPECT_GT(p->scans, 1);
  EXPECT_EQ(p->qf, 63);
  EXPECT_TRUE(p->qf_exact);

  auto fixture = ParseJpegHeader(ReadFile(codiff::testing::TestdataPath("image/progressive.jpg")));
  ASSERT_TRUE(fixture.ok()) << fixture.status();
  EXPECT_TRUE(fixture->progressive);
  EXPECT_EQ(fixture->qf, 90);

  const std::string rst =
      EncodeJpeg(TestPattern(3), {cv::IMWRITE_JPEG_QUALITY, 70, cv::IMWRITE_JPEG_RST_INTERVAL, 2});
  auto r = ParseJpegHeader(rst);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->restart_interval, 2);
  EXPECT_EQ(r->qf, 70);
}

// --- Hand-built streams -----------------------------------------------------

void Put16(std::string& s, int v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 255));
}

constexpr int kZigzag[64] = {0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,
                             12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,  7,  14, 21, 28,
                             35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
                             58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

void PutTable(std::string& s, int precision_bits, int id, const std::array<uint16_t, 64>& natural) {
  s.push_back(static_cast<char>(((precision_bits == 16 ? 1 : 0) << 4) | id));
  for (int k = 0; k < 64; ++k) {
    const int v = natural[kZigzag[k]];
    if (precision_bits == 16) {
      Put16(s, v);
    } else {
      s.push_back(static_cast<char>(v));
    }
  }
}

// SOI, one DQT segment holding `tables`, SOF0, SOS, a few entropy bytes, EOI.
std::string Stream(const std::string& dqt_payload, int components, int width = 16, int height = 8) {
  std::string s("\xFF\xD8", 2);
  s += "\xFF\xDB";
  Put16(s, 2 + static_cast<int>(dqt_payload.size()));
  s += dqt_payload;
  s += "\xFF\xC0";
  Put16(s, 8 + 3 * components);
  s.push_back(8);
  Put16(s, height);
  Put16(s, width);
  s.push_back(static_cast<char>(components));
  for (int c = 0; c < components; ++c) {
    s.push_back(static_cast<char>(c + 1));
    s.push_back(c == 0 ? 0x22 : 0x11);
    s.push_back(static_cast<char>(c == 0 ? 0 : 1));
  }
  s += "\xFF\xDA";
  Put16(s, 6 + 2 * components);
  s.push_back(static_cast<char>(components));
  for (int c = 0; c < components; ++c) {
    s.push_back(static_cast<char>(c + 1));
    s.push_back(0);
  }
  s += std::string("\x00\x3F\x00", 3);
  s += std::string("\x12\x34\xFF\x00\x56\xFF\xD0\x78", 8);  // Stuffing and RST0 inside.
  s += "\xFF\xD9";
  return s;
}

TEST(JpegHeaderTest, MultipleTablesInOneSegment) {
  std::string dqt;
  PutTable(dqt, 8, 0, IjgScaledTable(37, false));
  PutTable(dqt, 8, 1, IjgScaledTable(37, true));
  auto info = ParseJpegHeader(Stream(dqt, 3));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->quant_tables.size(), 2u);
  EXPECT_EQ(info->qf, 37);
  EXPECT_TRUE(info->qf_exact);
  EXPECT_EQ(info->subsampling, "4:2:0");
}

TEST(JpegHeaderTest, SixteenBitTablesMatchUnclampedScaling) {
  // force_baseline=FALSE at q = 5 gives entries above 255, hence 16-bit.
  const auto luma = IjgScaledTable(5, false, /*force_baseline=*/false);
  ASSERT_GT(*std::max_element(luma.begin(), luma.end()), 255);
  std::string dqt;
  PutTable(dqt, 16, 0, luma);
  PutTable(dqt, 16, 1, IjgScaledTable(5, true, false));
  auto info = ParseJpegHeader(Stream(dqt, 3));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->quant_tables[0].precision, 16);
  EXPECT_EQ(info->quant_tables[0].natural, luma);
  EXPECT_EQ(info->qf, 5);
  EXPECT_TRUE(info->qf_exact);
}

TEST(JpegHeaderTest, NonStandardTablesGiveNearestInexactQuality) {
  auto luma = IjgScaledTable(80, false);
  luma[63] += 3;
  std::string dqt;
  PutTable(dqt, 8, 0, luma);
  PutTable(dqt, 8, 1, IjgScaledTable(80, true));
  auto info = ParseJpegHeader(Stream(dqt, 3));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->qf, 80);
  EXPECT_FALSE(info->qf_exact);
  EXPECT_DOUBLE_EQ(info->qf_distance, 3.0 / 128.0);
}

TEST(JpegHeaderTest, StructuralErrorsAreInvalidArgument) {
  std::string dqt;
  PutTable(dqt, 8, 0, IjgScaledTable(50, false));
  PutTable(dqt, 8, 1, IjgScaledTable(50, true));
  const std::string good = Stream(dqt, 3);
  ASSERT_TRUE(ParseJpegHeader(good).ok());

  auto expect_invalid = [](const std::string& bytes, const std::string& needle) {
    auto r = ParseJpegHeader(bytes);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(r.status().message()).find(needle), std::string::npos)
        << r.status().message();
  };
  expect_invalid("", "not a JPEG");
  expect_invalid("GIF89a", "not a JPEG");
  expect_invalid(Stream(dqt, 3, 0, 8), "width is zero");
  // Frame references table slot 1, but only slot 0 is defined.
  std::string only_luma;
  PutTable(only_luma, 8, 0, IjgScaledTable(50, false));
  expect_invalid(Stream(only_luma, 3), "never defined");
  // DQT with table id 5.
  std::string bad_id = dqt;
  bad_id[0] = 0x05;
  expect_invalid(Stream(bad_id, 3), "index above 3");
  // Segment length running past the end of the file.
  std::string long_seg = good.substr(0, 4) + std::string("\x7F\xFF", 2) + good.substr(6);
  expect_invalid(long_seg, "truncated");
  // No EOI.
  expect_invalid(good.substr(0, good.size() - 2), "truncated");
  // Trailing bytes after EOI are ignored.
  EXPECT_TRUE(ParseJpegHeader(good + "trailing junk").ok());
}

TEST(JpegHeaderTest, EveryTruncationIsReported) {
  const std::string jpg = EncodeJpeg(TestPattern(3), {cv::IMWRITE_JPEG_QUALITY, 75});
  auto full = ParseJpegHeader(jpg);
  ASSERT_TRUE(full.ok());
  ASSERT_EQ(full->eoi_end, jpg.size());
  int reported = 0;
  for (size_t len = 0; len < jpg.size(); ++len) {
    auto r = ParseJpegHeader(std::string_view(jpg).substr(0, len));
    ASSERT_FALSE(r.ok()) << "prefix of " << len << " bytes accepted";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    if (len >= 2) {
      EXPECT_NE(std::string(r.status().message()).find("truncated"), std::string::npos)
          << len << ": " << r.status().message();
    }
    ++reported;
  }
  std::printf("[ truncate ] %d/%zu prefixes rejected\n", reported, jpg.size());
}

TEST(JpegHeaderTest, RandomMutationsNeverCrash) {
  const std::string jpg = EncodeJpeg(TestPattern(3), {cv::IMWRITE_JPEG_QUALITY, 75});
  std::mt19937 rng(1234);
  int ok = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string m = jpg;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) m[rng() % m.size()] = static_cast<char>(rng() & 255);
    if (rng() % 4 == 0) m.resize(rng() % m.size());
    ok += ParseJpegHeader(m).ok();
  }
  // Most mutations land in entropy data, which a header parser cannot judge.
  std::printf("[ mutate   ] %d/3000 mutated streams still parse\n", ok);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng() & 255);
  noise[0] = '\xFF';
  noise[1] = '\xD8';
  EXPECT_FALSE(ParseJpegHeader(noise).ok());
}

TEST(JpegHeaderTest, QualityScaleMatchesLibjpegAndInverts) {
  EXPECT_DOUBLE_EQ(IjgQualityScale(5), 1000.0);
  EXPECT_DOUBLE_EQ(IjgQualityScale(50), 100.0);
  EXPECT_DOUBLE_EQ(IjgQualityScale(95), 10.0);
  for (int qf = 1; qf <= 100; ++qf) {
    EXPECT_NEAR(IjgQualityForScale(IjgQualityScale(qf)), qf, 1e-9) << qf;
    // Truncated, the table's scale: libjpeg's integer jpeg_quality_scaling.
    EXPECT_EQ(static_cast<long>(IjgQualityScale(qf)), qf < 50 ? 5000 / qf : 200 - 2 * qf) << qf;
  }
}

}  // namespace
}  // namespace codiff::image
