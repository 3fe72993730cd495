// How many cores this process may really use. In a container, the node's
// core count (hardware_concurrency) is not the pod's: a 4-CPU pod on a 64-core
// node that starts 64 threads is throttled. The cgroup's CPU quota says it.
#pragma once

#include <string>

namespace codiff::runtime {

// The cgroup CPU quota in whole cores (rounded up, at least 1), read from
// cgroup v2 `cpu.max` ("QUOTA PERIOD" or "max PERIOD") under `cgroup_root`,
// else cgroup v1 `cpu/cpu.cfs_quota_us` + `cpu.cfs_period_us` (quota -1 =
// unlimited); never more than `cores`. `cores` when there is no quota or it
// cannot be read.
int CpuQuotaCores(int cores, const std::string& cgroup_root = "/sys/fs/cgroup");

// CpuQuotaCores(hardware_concurrency()).
int AvailableCores();

}  // namespace codiff::runtime
