#include "core/weights/safetensors.h"

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"
#include "tests/test_support.h"

namespace codiff {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// This process's resident pages of mapped files (the "RssFile" line of
// /proc/self/status), in bytes; -1 where the kernel does not report it.
int64_t ResidentFileBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8)) * 1024;
  }
  return -1;
}

std::string WithHeader(const std::string& json, const std::string& data) {
  std::string bytes(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return bytes + json + data;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("safetensors"); }
  std::string dir_;
};

TEST_F(SafetensorsTest, RoundTripKeepsNamesShapesDtypesAndValues) {
  torch::manual_seed(3);
  NamedTensors tensors = {
      {"b.weight", torch::randn({3, 4, 5})},
      {"a.bias", torch::randn({7}).to(torch::kFloat16)},
      {"c.half", torch::randn({2, 2}).to(torch::kBFloat16)},
      {"d.count", torch::tensor(int64_t{42})},
  };
  const std::string path = dir_ + "/round.safetensors";
  ASSERT_TRUE(WriteTensorFile(path, tensors, {{"format", "pt"}}).ok());

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->names(),
            (std::vector<std::string>{"b.weight", "a.bias", "c.half", "d.count"}));
  EXPECT_EQ((*file)->metadata().at("format"), "pt");

  auto read = ReadTensorFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  for (const auto& [name, original] : tensors) {
    const torch::Tensor& got = read->at(name);
    EXPECT_EQ(got.scalar_type(), original.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), original.sizes()) << name;
    EXPECT_TRUE(torch::equal(got, original)) << name;
  }
}

TEST_F(SafetensorsTest, ReadsTheParityFixture) {
  auto file =
      SafetensorsFile::Open(testing::TestdataPath("fixtures/schedule/alphas_cumprod.safetensors"));
  ASSERT_TRUE(file.ok()) << file.status();
  auto view = (*file)->Get("alphas_cumprod");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->shape, std::vector<int64_t>{1000});
  EXPECT_EQ(view->dtype, TensorDtype::kF32);
}

TEST_F(SafetensorsTest, TruncatedFileIsAClearError) {
  const std::string good = dir_ + "/good.safetensors";
  ASSERT_TRUE(WriteTensorFile(good, {{"w", torch::ones({64})}}).ok());
  const std::string bytes = ReadAll(good);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{8}, size_t{20}, bytes.size() - 1}) {
    const std::string path = dir_ + "/cut.safetensors";
    WriteAll(path, bytes.substr(0, cut));
    auto file = SafetensorsFile::Open(path);
    ASSERT_FALSE(file.ok()) << "cut at " << cut;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << file.status();
  }
}

TEST_F(SafetensorsTest, HeaderLengthPastTheEndIsRejected) {
  std::string bytes = WithHeader("{}", "");
  bytes[0] = static_cast<char>(0xff);  // Claims a 255-byte header in a 10-byte file.
  const std::string path = dir_ + "/long.safetensors";
  WriteAll(path, bytes);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("past the end"), std::string::npos) << file.status();

  std::string huge = WithHeader("{}", "");
  huge[7] = static_cast<char>(0x7f);  // Header length near 2^63.
  WriteAll(path, huge);
  EXPECT_FALSE(SafetensorsFile::Open(path).ok());
}

TEST_F(SafetensorsTest, BadJsonHeaderIsRejected) {
  const std::string path = dir_ + "/json.safetensors";
  for (const std::string& json : {std::string("{\"w\": [1, 2"), std::string("[1,2,3]"),
                                  std::string("{\"w\": {\"dtype\": \"F32\"}}"),
                                  std::string("{\"w\": {\"dtype\": \"Q4\", \"shape\": [1], "
                                              "\"data_offsets\": [0, 4]}}"),
                                  std::string("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], "
                                              "\"data_offsets\": [0, 4]}}")}) {
    WriteAll(path, WithHeader(json, std::string(4, '\0')));
    auto file = SafetensorsFile::Open(path);
    ASSERT_FALSE(file.ok()) << json;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument) << json;
  }
}

TEST_F(SafetensorsTest, OffsetsBeyondTheFileAreRejected) {
  const std::string path = dir_ + "/offsets.safetensors";
  WriteAll(path,
           WithHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      std::string(8, '\0')));
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("exceed"), std::string::npos) << file.status();

  // Offsets inside the file but disagreeing with dtype x shape.
  WriteAll(path,
           WithHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 8]}}",
                      std::string(16, '\0')));
  EXPECT_FALSE(SafetensorsFile::Open(path).ok());

  // Shape whose element count overflows 64 bits.
  WriteAll(path, WithHeader("{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], "
                            "\"data_offsets\": [0, 8]}}",
                            std::string(8, '\0')));
  EXPECT_FALSE(SafetensorsFile::Open(path).ok());
}

// Loading a mapped file into a module must not leave the file resident
// beside the module's own copy: for SD 2.1's 3.5 GB UNet that doubled the
// loading peak.
TEST_F(SafetensorsTest, LoadingAMappedFileReleasesItsPages) {
  constexpr int64_t kFloats = 8 << 20;  // 32 MiB
  constexpr int64_t kBytes = kFloats * 4;
  const torch::Tensor values = torch::arange(kFloats, torch::kFloat32).remainder(977.0f);
  const std::string path = dir_ + "/big.safetensors";
  ASSERT_TRUE(WriteTensorFile(path, {{"weight", values}}).ok());

  auto mapped = MapTensorFile(path);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  const int64_t before = ResidentFileBytes();
  if (before < 0) GTEST_SKIP() << "no RssFile in /proc/self/status";
  // Reading the view faults the file in, as the copy into a module does.
  EXPECT_FLOAT_EQ(mapped->at("weight").sum().item<float>(), values.sum().item<float>());
  const int64_t touched = ResidentFileBytes();
  ASSERT_GT(touched - before, kBytes * 3 / 4) << "reading the mapping did not fault it in";

  torch::nn::Module module;
  module.register_parameter("weight", torch::zeros({kFloats}));
  auto report = LoadStateDictStrict(module, *mapped);
  ASSERT_TRUE(report.ok()) << report.status();
  const int64_t loaded = ResidentFileBytes();
  EXPECT_LT(loaded - before, kBytes / 8)
      << "the mapped file stayed resident after its tensor was copied into the module ("
      << (loaded - before) / 1024 << " KiB above the start, " << (touched - before) / 1024
      << " KiB after reading it)";
  // The module holds the values, and the view still reads them from the file.
  EXPECT_TRUE(torch::equal(module.named_parameters()["weight"], values));
  EXPECT_TRUE(torch::equal(mapped->at("weight"), values));

  // A tensor that is not a file view is left alone.
  torch::Tensor owned = values.clone();
  ReleaseMappedPages(owned);
  EXPECT_TRUE(torch::equal(owned, values));
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  auto file = SafetensorsFile::Open(dir_ + "/nope.safetensors");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace codiff
