#include "core/runtime/cpu_quota.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <thread>

namespace codiff::runtime {
namespace {

// Whole cores for quota/period, rounded up; nullopt for no usable quota.
std::optional<int> CoresFor(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return static_cast<int>(std::max<long long>(1, (quota + period - 1) / period));
}

std::optional<int> CgroupV2(const std::string& root) {
  std::ifstream in(root + "/cpu.max");
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max") return std::nullopt;
  try {
    return CoresFor(std::stoll(quota), period);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int> CgroupV1(const std::string& root) {
  for (const char* dir : {"/cpu", "/cpu,cpuacct", ""}) {
    std::ifstream quota_file(root + dir + "/cpu.cfs_quota_us");
    std::ifstream period_file(root + dir + "/cpu.cfs_period_us");
    long long quota = 0, period = 0;
    if (quota_file >> quota && period_file >> period) return CoresFor(quota, period);
  }
  return std::nullopt;
}

}  // namespace

int CpuQuotaCores(int cores, const std::string& cgroup_root) {
  cores = std::max(1, cores);
  std::optional<int> quota = CgroupV2(cgroup_root);
  if (!quota) quota = CgroupV1(cgroup_root);
  return quota ? std::min(cores, *quota) : cores;
}

int AvailableCores() {
  return CpuQuotaCores(static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace codiff::runtime
