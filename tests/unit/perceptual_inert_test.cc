// model.yaml `perceptual: inert` (issue 20): read into ModelProvenance,
// written back by WriteModelFolder, and anything but inert / active refused.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/models/model_architecture.h"
#include "core/weights/model_folder.h"
#include "tests/test_support.h"

namespace codiff {
namespace {

TEST(PerceptualInertTest, RoundTripsAndIsChecked) {
  const std::string dir = testing::MakeTempDir("model_inert") + "/tiny";
  auto arch = models::PresetArchitecture("tiny");
  ASSERT_TRUE(arch.ok());
  models::OneStepGenerator g = BuildGenerator(*arch);
  ModelProvenance provenance;
  provenance.perceptual_inert = true;
  ASSERT_TRUE(WriteModelFolder(dir, *g, provenance).ok());
  ModelProvenance read;
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_TRUE(read.perceptual_inert);
  ASSERT_TRUE(WriteModelFolder(dir, *g, {}).ok());
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_FALSE(read.perceptual_inert);  // absent: the generator runs
  std::ofstream(dir + "/model.yaml", std::ios::app) << "perceptual: active\n";
  ASSERT_TRUE(ReadModelArchitecture(dir, &read).ok());
  EXPECT_FALSE(read.perceptual_inert);
  ASSERT_TRUE(WriteModelFolder(dir, *g, {}).ok());
  std::ofstream(dir + "/model.yaml", std::ios::app) << "perceptual: yes\n";
  auto r = ReadModelArchitecture(dir, &read);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("perceptual"), std::string::npos) << r.status();
}

}  // namespace
}  // namespace codiff
