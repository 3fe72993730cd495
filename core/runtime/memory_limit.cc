#include "core/runtime/memory_limit.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace codiff::runtime {
namespace {

// A positive byte count from the first word of `path`; 0 for "max",
// absurd values (v1 reports ~2^63 for "no limit") or an unreadable file.
int64_t ReadLimit(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return 0;
  try {
    const long long value = std::stoll(word);
    return value > 0 && value < (1ll << 50) ? value : 0;
  } catch (...) {
    return 0;
  }
}

}  // namespace

int64_t AvailableMemoryBytes(const std::string& cgroup_root) {
  for (const char* file : {"/memory.max", "/memory/memory.limit_in_bytes"}) {
    if (int64_t limit = ReadLimit(cgroup_root + file); limit > 0) return limit;
  }
  return static_cast<int64_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
}

int64_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * ::sysconf(_SC_PAGESIZE);
}

}  // namespace codiff::runtime
