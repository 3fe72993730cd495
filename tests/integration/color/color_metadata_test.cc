// Photos as people have them (issue 30), through the real codiff-server with
// the bundled model and the real codiff client: embedded colour profiles
// (Display P3, Adobe RGB, ProPhoto, CMYK) keep their colours, --srgb
// converts, and --metadata keep / strip decide what exiftool reads back.
// The test data and how it was made: tests/testdata/color/make_color_fixtures.cc.
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/image/color_profile.h"
#include "core/image/image_decoder.h"
#include "core/image/image_metadata.h"
#include "tests/integration/client/client_process.h"
#include "tests/integration/server/server_process.h"
#include "tests/test_support.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;
using ::codiff::testing::ClientResult;
using ::codiff::testing::MakeTempDir;
using ::codiff::testing::ReadFileBytes;
using ::codiff::testing::RunClient;
using ::codiff::testing::ServerProcess;

std::string ColorData(const std::string& name) {
  return std::string(CODIFF_TESTDATA_DIR) + "/color/" + name;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A file's pixels as sRGB, through its own profile when it has one.
image::Image AsSrgb(const std::string& bytes) {
  auto decoded = image::DecodeImage(bytes);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  if (!decoded.ok()) return {};
  if (decoded->metadata.icc.empty()) return decoded->rgb;
  auto converted = image::ConvertRgbToSrgb(decoded->rgb, decoded->metadata.icc);
  EXPECT_TRUE(converted.ok()) << converted.status();
  return converted.ok() ? *converted : image::Image();
}

double DeltaE(const std::string& output_bytes, const std::string& reference_png) {
  auto e = image::MeanDeltaE76(AsSrgb(output_bytes), AsSrgb(ReadFileBytes(reference_png)));
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : 1e9;
}

std::string RunCapture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
}

bool HaveExiftool() { return std::system("exiftool -ver > /dev/null 2>&1") == 0; }

class ColorMetadataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string model = std::string(CODIFF_TESTDATA_DIR) + "/../../models/default";
    std::string error;
    server_ = ServerProcess::Start(model, "", &error).release();
    ASSERT_NE(server_, nullptr) << error;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  // Restores `input` with extra client options; returns the output's bytes.
  std::string Restore(const std::string& input, const std::vector<std::string>& extra,
                      const std::string& format = "png") {
    const fs::path out = MakeTempDir("color-out");
    std::vector<std::string> args = {"restore",  input,  "-o",       out.string(),
                                     "--format", format, "--server", server_->address()};
    args.insert(args.end(), extra.begin(), extra.end());
    ClientResult r = RunClient(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string ext = format == "jpeg" ? ".jpg" : "." + format;
    return ReadFileBytes((out / (fs::path(input).stem().string() + ext)).string());
  }

  static ServerProcess* server_;
};

ServerProcess* ColorMetadataTest::server_ = nullptr;

TEST_F(ColorMetadataTest, EmbeddedProfilesKeepTheirColoursInBothModes) {
  for (const std::string mode : {"fidelity", "perceptual"}) {
    const double srgb =
        DeltaE(Restore(ColorData("srgb_q30.jpg"), {"--mode", mode}), ColorData("original.png"));
    const double srgb_input =
        DeltaE(ReadFileBytes(ColorData("srgb_q30.jpg")), ColorData("original.png"));
    std::printf("[ dE76     ] %-10s sRGB input %.2f (the JPEG itself %.2f)\n", mode.c_str(), srgb,
                srgb_input);
    EXPECT_LT(srgb, 6.0);
    for (const std::string name : {"p3", "adobergb", "prophoto", "cmyk"}) {
      const std::string input = ColorData(name + "_q30.jpg");
      const std::string reference = ColorData(name + "_reference.png");
      const std::string kept = Restore(input, {"--mode", mode});
      const std::string converted = Restore(input, {"--mode", mode, "--srgb"});
      const double e_kept = DeltaE(kept, reference);
      const double e_srgb = DeltaE(converted, reference);
      // The profile ignored, as the service did before: the gap this closes.
      auto raw = image::DecodeImage(kept);
      ASSERT_TRUE(raw.ok());
      auto ignored = image::MeanDeltaE76(raw->rgb, AsSrgb(ReadFileBytes(reference)));
      ASSERT_TRUE(ignored.ok());
      const double e_input = DeltaE(ReadFileBytes(input), reference);
      std::printf(
          "[ dE76     ] %-10s %-9s kept %.2f  --srgb %.2f  (profile ignored %.2f; the JPEG "
          "itself %.2f)\n",
          mode.c_str(), name.c_str(), e_kept, e_srgb, ignored.ok() ? *ignored : -1.0, e_input);
      // A wide-gamut file's own JPEG is further from its original than the
      // sRGB file's (the same quantisation spans more colour), so the bound
      // is on what the service adds: the restored file's distance above the
      // restored sRGB file's is at most 0.3 more than the two JPEGs' own
      // (CMYK: its reference is the CMYK gamut's, so against its JPEG).
      const double jpeg_gap = name == "cmyk" ? 0.0 : e_input - srgb_input;
      const double floor = name == "cmyk" ? e_input : srgb;
      EXPECT_LE(e_kept, floor + jpeg_gap + 0.3) << name << " " << mode;
      EXPECT_LE(e_srgb, floor + jpeg_gap + 0.3) << name << " " << mode;
      EXPECT_LT(e_kept, e_input) << name << ": restoring must bring the colours closer";
      if (name != "cmyk") {
        EXPECT_LT(e_kept + 0.5, *ignored) << name;
      }
      const image::ImageMetadata tagged = image::ReadImageMetadata(kept, image::ImageFormat::kPng);
      // CMYK comes back as sRGB RGB: untagged; the RGB profiles are kept.
      EXPECT_EQ(tagged.icc.empty(), name == "cmyk") << name;
      EXPECT_TRUE(image::ReadImageMetadata(converted, image::ImageFormat::kPng).icc.empty())
          << name << ": --srgb output must be untagged";
    }
  }
}

TEST_F(ColorMetadataTest, QfNamesTheProfile) {
  ClientResult r = RunClient({"qf", ColorData("p3_q30.jpg"), ColorData("cmyk_q30.jpg"),
                              ColorData("srgb_q30.jpg"), "--json", "--server", server_->address()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"color_profile\":\"Display P3\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "codiff test CMYK (simple ink model) (CMYK, converted to sRGB)"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "\"color_profile\":null")) << r.out;
}

TEST_F(ColorMetadataTest, MetadataKeepCarriesEveryBlockStripOnlyTheProfile) {
  if (!HaveExiftool()) GTEST_SKIP() << "exiftool not installed (libimage-exiftool-perl)";
  const std::string input = ColorData("metadata.jpg");
  const std::string tags =
      " -s -s -Make -Model -DateTimeOriginal -GPSLatitude -Copyright -Orientation"
      " -XMP-dc:Creator -IPTC:Keywords -ProfileDescription ";
  for (const std::string format : {"png", "jpeg", "webp"}) {
    const fs::path dir = MakeTempDir("metadata-" + format);
    for (const std::string policy : {"keep", "strip", ""}) {
      std::vector<std::string> extra;
      if (!policy.empty()) extra = {"--metadata", policy};
      const std::string bytes = Restore(input, extra, format);
      const fs::path file = dir / ("out_" + (policy.empty() ? "default" : policy) + "." + format);
      WriteBytes(file, bytes);
      const std::string read = RunCapture("exiftool" + tags + file.string());
      SCOPED_TRACE(format + " " + policy + ":\n" + read);
      EXPECT_TRUE(Contains(read, "ProfileDescription: Adobe RGB (1998)"));
      const bool keep = policy == "keep";
      EXPECT_EQ(Contains(read, "Make: CodiffTestCam"), keep);
      EXPECT_EQ(Contains(read, "Model: Model 7"), keep);
      EXPECT_EQ(Contains(read, "DateTimeOriginal: 2024:05:06 07:08:09"), keep);
      EXPECT_EQ(Contains(read, "GPSLatitude: 48 deg 51"), keep);
      EXPECT_EQ(Contains(read, "Copyright: (c) Codiff Test Photographer"), keep);
      EXPECT_EQ(Contains(read, "Creator: Codiff Test Photographer"), keep);
      // The pixels come back upright, so the EXIF kept says so.
      EXPECT_FALSE(Contains(read, "Rotate 90"));
      if (keep) {
        EXPECT_TRUE(Contains(read, "Orientation: Horizontal (normal)"));
      }
      // IPTC has a JPEG container (APP13) and a PNG one (exiftool's raw
      // profile text); WebP has none.
      EXPECT_EQ(Contains(read, "Keywords: restoration"), keep && format != "webp");
    }
  }
}

}  // namespace
}  // namespace codiff
