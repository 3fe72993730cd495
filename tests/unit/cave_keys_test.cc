// The full-width CaVE state dict must list the reference checkpoint's keys
// and shapes in the reference order (fixtures/cave/keys_full_nc64-512.tsv).
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/cave.h"
#include "core/weights/state_dict.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "name<TAB>shape<TAB>dtype" -> "name<TAB>shape".
std::string FirstTwoColumns(const std::string& line) {
  const size_t first = line.find('\t');
  if (first == std::string::npos) return line;
  const size_t second = line.find('\t', first + 1);
  return second == std::string::npos ? line : line.substr(0, second);
}

TEST(CaVEKeysTest, ReferenceStateDictMatchesFullWidthKeyList) {
  CaVE model(CaVEConfig::Reference());
  const std::vector<std::string> actual = Lines(FormatKeyShapeLines(StateDictOf(*model)));

  std::ifstream in(testing::TestdataPath("fixtures/cave/keys_full_nc64-512.tsv"));
  ASSERT_TRUE(in.good());
  std::vector<std::string> expected;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) expected.push_back(FirstTwoColumns(line));
  }
  ASSERT_EQ(expected.size(), 346u);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i], expected[i]) << "line " << i + 1;
  }
}

TEST(CaVEKeysTest, NumBatchesTrackedIsZeroDimInt64) {
  CaVE model(CaVEConfig::Reference());
  int found = 0;
  for (const auto& [name, tensor] : StateDictOf(*model)) {
    if (name.size() >= 19 && name.compare(name.size() - 19, 19, "num_batches_tracked") == 0) {
      ++found;
      EXPECT_EQ(tensor.dim(), 0) << name;
      EXPECT_EQ(tensor.scalar_type(), torch::kLong) << name;
    }
  }
  EXPECT_EQ(found, 36);
}

TEST(CaVEKeysTest, ParameterCountMatchesReference) {
  CaVE model(CaVEConfig::Reference());
  int64_t count = 0;
  for (const auto& p : model->parameters()) count += p.numel();
  // fixture.json: num_parameters_full_width_f32 counts parameters and the
  // float BatchNorm buffers.
  int64_t float_buffers = 0;
  for (const auto& b : model->buffers()) {
    if (b.is_floating_point()) float_buffers += b.numel();
  }
  EXPECT_EQ(count + float_buffers, 74906884);
}

}  // namespace
}  // namespace codiff::models
