#include "tests/test_support.h"

#include "core/runtime/device.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace codiff::testing {

std::string TestdataPath(const std::string& relative) {
  return std::string(CODIFF_TESTDATA_DIR) + "/" + relative;
}

TensorMap LoadTestTensors(const std::string& relative) {
  auto tensors = ReadTensorFile(TestdataPath(relative));
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  return tensors.ok() ? *std::move(tensors) : TensorMap{};
}

double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().to(torch::kCPU, torch::kFloat64) - b.detach().to(torch::kCPU, torch::kFloat64))
      .abs()
      .max()
      .item<double>();
}

namespace {

// The directories MakeTempDir made, removed when the test process exits:
// without it every run left its models, images and servers' files behind
// (67 GB in /tmp on the development machine, until writes failed).
// CODIFF_KEEP_TEST_DIRS=1 keeps them for a look after a failure.
class TempDirRegistry {
 public:
  ~TempDirRegistry() {
    const char* keep = std::getenv("CODIFF_KEEP_TEST_DIRS");
    if (keep != nullptr && *keep != '\0' && std::string(keep) != "0") return;
    std::error_code ignored;
    for (const std::string& dir : dirs_) std::filesystem::remove_all(dir, ignored);
  }
  void Add(std::string dir) {
    std::lock_guard<std::mutex> lock(mutex_);
    dirs_.push_back(std::move(dir));
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> dirs_;
};

TempDirRegistry& TempDirs() {
  static TempDirRegistry registry;
  return registry;
}

}  // namespace

std::string MakeTempDir(const std::string& tag) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/codiff-" + tag + "-XXXXXX";
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr);
  if (made != nullptr) TempDirs().Add(pattern);
  return pattern;
}

torch::Device TestDevice() {
  const char* name = std::getenv("CODIFF_TEST_DEVICE");
  return torch::Device(name != nullptr && *name != '\0' ? name : "cpu");
}

torch::ScalarType TestDtype() {
  const char* name = std::getenv("CODIFF_TEST_DTYPE");
  const std::string dtype = name != nullptr ? name : "";
  if (dtype == "float16") return torch::kFloat16;
  if (dtype == "bfloat16") return torch::kBFloat16;
  return torch::kFloat32;
}

double Tolerance(double fp32) {
  return TestDtype() == torch::kFloat32 ? fp32 : std::max(fp32, 2e-2);
}

TensorMap OnTestDevice(TensorMap tensors) {
  for (auto& [name, tensor] : tensors) {
    tensor =
        tensor.is_floating_point() ? tensor.to(TestDevice(), TestDtype()) : tensor.to(TestDevice());
  }
  return tensors;
}

void MoveToTestDevice(torch::nn::Module& module) {
  runtime::UseIeeeFloat32();
  module.to(TestDevice(), TestDtype());
}

double ScaledTolerance(double tol, const torch::Tensor& expected) {
  if (TestDtype() == torch::kFloat32) return tol;
  const double scale =
      expected.detach().abs().max().to(torch::kCPU, torch::kFloat64).item<double>();
  return std::max(tol, 0.1 * scale);
}

}  // namespace codiff::testing
