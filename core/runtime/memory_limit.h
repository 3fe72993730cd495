// How much memory this process may use and how much it holds, for the
// server's memory budget (limits.max_memory_bytes).
#pragma once

#include <cstdint>
#include <string>

namespace codiff::runtime {

// The cgroup's memory limit (v2 memory.max, v1 memory.limit_in_bytes) under
// `cgroup_root` when one is set, else the machine's physical memory.
int64_t AvailableMemoryBytes(const std::string& cgroup_root = "/sys/fs/cgroup");

// This process's resident set size (/proc/self/statm), 0 if unreadable.
int64_t ResidentBytes();

}  // namespace codiff::runtime
