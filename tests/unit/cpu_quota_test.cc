// CPU quota from fake cgroup files (v2 cpu.max, v1 cfs quota/period).
#include "core/runtime/cpu_quota.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/test_support.h"

namespace codiff::runtime {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(CpuQuotaTest, CgroupV2QuotaSetsTheCores) {
  const std::string root = testing::MakeTempDir("cgroup2");
  Write(root + "/cpu.max", "200000 100000\n");
  EXPECT_EQ(CpuQuotaCores(64, root), 2);
  Write(root + "/cpu.max", "150000 100000\n");
  EXPECT_EQ(CpuQuotaCores(64, root), 2);  // 1.5 cores: rounded up
  Write(root + "/cpu.max", "50000 100000\n");
  EXPECT_EQ(CpuQuotaCores(64, root), 1);
  Write(root + "/cpu.max", "800000 100000\n");
  EXPECT_EQ(CpuQuotaCores(4, root), 4);  // never more than the machine has
}

TEST(CpuQuotaTest, UnlimitedOrMissingMeansEveryCore) {
  const std::string root = testing::MakeTempDir("cgroup2max");
  Write(root + "/cpu.max", "max 100000\n");
  EXPECT_EQ(CpuQuotaCores(16, root), 16);
  EXPECT_EQ(CpuQuotaCores(16, testing::MakeTempDir("nocgroup")), 16);
  Write(root + "/cpu.max", "garbage\n");
  EXPECT_EQ(CpuQuotaCores(16, root), 16);
}

TEST(CpuQuotaTest, CgroupV1QuotaAndPeriod) {
  const std::string root = testing::MakeTempDir("cgroup1");
  Write(root + "/cpu/cpu.cfs_quota_us", "300000\n");
  Write(root + "/cpu/cpu.cfs_period_us", "100000\n");
  EXPECT_EQ(CpuQuotaCores(64, root), 3);
  Write(root + "/cpu/cpu.cfs_quota_us", "-1\n");
  EXPECT_EQ(CpuQuotaCores(64, root), 64);
}

}  // namespace
}  // namespace codiff::runtime
