// The sd21 reference path end to end, as a user meets it: the parity
// fixtures' tiny weights in a model folder, the real codiff-server with the
// reference strategy, and `codiff restore --mode perceptual --color-fix none
// --no-jpeg-consistency` of each pipeline_tiled JPEG. Every output must be
// within one grey level (max over pixels and channels) of the reference
// code's own output for that JPEG (NAME_out.png, written by make_fixture.py
// from CODiff_test.forward). The cases cover latents of odd height and odd
// width, sides that are not multiples of 32 or 64, and latents just above
// and just below the reference's 96 x 96 untiled area.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/image/image_decoder.h"
#include "tests/integration/client/client_process.h"
#include "tests/integration/server/server_process.h"
#include "tests/test_support.h"

namespace codiff::testing {
namespace {

namespace fs = std::filesystem;

const char kFixtures[] = "fixtures/pipeline_tiled/";

nlohmann::json Cases() {
  std::ifstream in(TestdataPath(std::string(kFixtures) + "fixture.json"));
  return nlohmann::json::parse(in).at("cases");
}

// codiff-model init's tiny folder (its model.yaml has the fixtures'
// architecture) with the fixtures' weights in place of its random ones.
std::string FixtureModelDir() {
  static const std::string dir = [] {
    const std::string out = MakeTempDir("reference_model") + "/model";
    const std::string init = std::string(CODIFF_MODEL_BIN) + " init --preset tiny --seed 1 --out " +
                             out + " > /dev/null";
    if (std::system(init.c_str()) != 0) return std::string();
    const std::pair<const char*, const char*> parts[] = {
        {"fixtures/cave/weights.safetensors", "cave.safetensors"},
        {"fixtures/pipeline_tiny/proj.safetensors", "projection.safetensors"},
        {"fixtures/unet_tiny/weights.safetensors", "unet.safetensors"},
        {"fixtures/vae_tiny/weights.safetensors", "vae.safetensors"}};
    for (const auto& [from, to] : parts) {
      fs::copy_file(TestdataPath(from), out + "/" + to, fs::copy_options::overwrite_existing);
    }
    return out;
  }();
  return dir;
}

image::Image DecodePng(const std::string& bytes, const std::string& what) {
  auto decoded = image::DecodeImage(bytes);
  EXPECT_TRUE(decoded.ok()) << what << ": " << decoded.status();
  return decoded.ok() ? decoded->rgb : image::Image();
}

class ReferenceOutputTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(FixtureModelDir().empty()) << "codiff-model init failed";
    std::string error;
    server_ = ServerProcess::Start(FixtureModelDir(), "strategy: reference\n", &error).release();
    ASSERT_NE(server_, nullptr) << error;
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};

ServerProcess* ReferenceOutputTest::server_ = nullptr;

TEST_P(ReferenceOutputTest, ServerOutputIsWithinOneLevelOfTheReference) {
  ASSERT_NE(server_, nullptr);
  const std::string name = GetParam();
  const nlohmann::json spec = Cases().at(name);
  const std::string jpeg = TestdataPath(kFixtures + name + ".jpg");
  const std::string out_dir = MakeTempDir("reference_out");
  const ClientResult result = RunClient(
      {"restore", jpeg, "-o", out_dir, "-q", "--mode", "perceptual", "--color-fix", "none",
       "--no-jpeg-consistency", "--deadline", "600", "--server", server_->address()});
  ASSERT_EQ(result.exit_code, 0) << result.err << "\nserver log:\n" << server_->log();
  const image::Image ours = DecodePng(ReadFileBytes(out_dir + "/" + name + ".png"), "output");
  const image::Image reference =
      DecodePng(ReadFileBytes(TestdataPath(kFixtures + name + "_out.png")), "reference");
  ASSERT_EQ(ours.width, spec.at("width").get<int>());
  ASSERT_EQ(ours.height, spec.at("height").get<int>());
  ASSERT_EQ(ours.width, reference.width);
  ASSERT_EQ(ours.height, reference.height);
  ASSERT_EQ(ours.channels, reference.channels);
  int max_diff = 0;
  int64_t over_one = 0;
  double sum = 0;
  for (size_t i = 0; i < ours.data.size(); ++i) {
    const int d = std::abs(static_cast<int>(ours.data[i]) - static_cast<int>(reference.data[i]));
    max_diff = std::max(max_diff, d);
    over_one += d > 1;
    sum += d;
  }
  std::printf(
      "[ reference ] %s (latent %dx%d, %d UNet calls): max |diff| %d levels, mean %.4f, "
      "%lld values over 1\n",
      name.c_str(), spec.at("latent")[0].get<int>(), spec.at("latent")[1].get<int>(),
      spec.at("unet_calls").get<int>(), max_diff, sum / static_cast<double>(ours.data.size()),
      static_cast<long long>(over_one));
  EXPECT_LE(max_diff, 1) << over_one << " values differ by more than one level";
}

std::vector<std::string> CaseNames() {
  std::vector<std::string> names;
  const nlohmann::json cases = Cases();
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    if (fs::exists(TestdataPath(kFixtures + it.key() + "_out.png"))) names.push_back(it.key());
  }
  return names;
}

// A tree without the reference outputs (a GPU check's trimmed copy) has no
// cases rather than a failing one.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(ReferenceOutputTest);
INSTANTIATE_TEST_SUITE_P(Fixtures, ReferenceOutputTest, ::testing::ValuesIn(CaseNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace codiff::testing
