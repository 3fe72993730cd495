// Start-up checks of devices and precision against the linked LibTorch.
#include "core/runtime/device.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

namespace codiff::runtime {
namespace {

TEST(DeviceTest, CpuParses) {
  auto device = ParseDevice("cpu");
  ASSERT_TRUE(device.ok());
  EXPECT_TRUE(device->is_cpu());
}

TEST(DeviceTest, CudaWithoutCudaNamesTheBuild) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "this LibTorch has CUDA";
  auto device = ParseDevice("cuda:0");
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(device.status().message());
  EXPECT_NE(message.find("LibTorch"), std::string::npos) << message;
  EXPECT_NE(message.find("CPU only"), std::string::npos) << message;
  EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
}

TEST(DeviceTest, MalformedNamesAreRejected) {
  for (const char* name : {"gpu", "cuda:x", "cuda:-1", "", "CPU"}) {
    EXPECT_FALSE(ParseDevice(name).ok()) << name;
  }
}

TEST(DeviceTest, HalfPrecisionOnCpuIsRefused) {
  const torch::Device cpu(torch::kCPU);
  for (const char* name : {"float16", "bfloat16"}) {
    auto dtype = ParseComputeDtype(name, cpu);
    ASSERT_FALSE(dtype.ok()) << name;
    EXPECT_NE(dtype.status().message().find("CPU"), std::string::npos) << dtype.status();
  }
  auto fp32 = ParseComputeDtype("float32", cpu);
  ASSERT_TRUE(fp32.ok());
  EXPECT_EQ(*fp32, torch::kFloat32);
  EXPECT_FALSE(ParseComputeDtype("int8", cpu).ok());
}

TEST(DeviceTest, HalfPrecisionIsAcceptedForCuda) {
  const torch::Device cuda(torch::kCUDA, 0);  // a description; nothing is allocated
  auto dtype = ParseComputeDtype("float16", cuda);
  ASSERT_TRUE(dtype.ok());
  EXPECT_EQ(*dtype, torch::kFloat16);
}

}  // namespace
}  // namespace codiff::runtime
