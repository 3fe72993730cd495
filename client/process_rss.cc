#include "client/process_rss.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace codiff::client {
namespace {

// "VmRSS:     123456 kB" -> bytes.
int64_t KilobytesField(const std::string& line) {
  std::istringstream in(line.substr(line.find(':') + 1));
  int64_t kb = 0;
  in >> kb;
  return kb * 1024;
}

// Socket inodes listening on `port` in /proc/net/tcp or tcp6.
std::set<std::string> ListeningInodes(int port) {
  std::set<std::string> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // sl local_address rem_address st ... inode (field 9)
      if (fields.size() < 10 || fields[3] != "0A") continue;  // 0A = LISTEN
      const auto colon = fields[1].rfind(':');
      if (colon == std::string::npos) continue;
      const long local_port = std::strtol(fields[1].substr(colon + 1).c_str(), nullptr, 16);
      if (local_port == port) inodes.insert(fields[9]);
    }
  }
  return inodes;
}

}  // namespace

std::optional<ProcessMemory> ReadProcessMemory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return std::nullopt;
  ProcessMemory memory;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      memory.rss_bytes = KilobytesField(line);
      found = true;
    } else if (line.rfind("VmHWM:", 0) == 0) {
      memory.peak_bytes = KilobytesField(line);
    }
  }
  if (!found) return std::nullopt;
  return memory;
}

std::optional<pid_t> FindListeningProcess(int port) {
  const std::set<std::string> inodes = ListeningInodes(port);
  if (inodes.empty()) return std::nullopt;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  std::optional<pid_t> found;
  while (dirent* entry = readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid) || pid <= 0) continue;
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* fds = opendir(fd_dir.c_str());
    if (fds == nullptr) continue;  // another user's process
    while (dirent* fd = readdir(fds)) {
      char target[256];
      const std::string link = fd_dir + "/" + fd->d_name;
      const ssize_t n = readlink(link.c_str(), target, sizeof(target) - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      const std::string text(target);
      // "socket:[12345]"
      if (text.rfind("socket:[", 0) == 0 && inodes.count(text.substr(8, text.size() - 9))) {
        found = pid;
        break;
      }
    }
    closedir(fds);
    if (found) break;
  }
  closedir(proc);
  return found;
}

std::optional<int> LoopbackPort(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = address.substr(0, colon);
  if (host.rfind("ipv4:", 0) == 0) host = host.substr(5);
  if (host.rfind("dns:", 0) == 0) host = host.substr(4);
  if (host != "localhost" && host != "127.0.0.1" && host != "[::1]" && host != "::1") {
    return std::nullopt;
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

}  // namespace codiff::client
