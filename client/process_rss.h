// The memory of a local server process, read from /proc (Linux), for
// `codiff load`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace codiff::client {

struct ProcessMemory {
  int64_t rss_bytes = 0;   // VmRSS: resident now
  int64_t peak_bytes = 0;  // VmHWM: the most resident so far
};

// Nothing when the process does not exist or cannot be read.
std::optional<ProcessMemory> ReadProcessMemory(pid_t pid);

// The process on this machine listening on TCP `port` (IPv4 or IPv6), found
// through /proc/net/tcp{,6} and the /proc/PID/fd links this user may read.
std::optional<pid_t> FindListeningProcess(int port);

// For "localhost:50051", "127.0.0.1:50051", "[::1]:50051": the port; nothing
// for an address that is not on this machine's loopback.
std::optional<int> LoopbackPort(const std::string& address);

}  // namespace codiff::client
