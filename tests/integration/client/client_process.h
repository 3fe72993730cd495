// Runs the codiff client binary for the integration tests: arguments in,
// exit code and captured stdout/stderr out, optionally in the background
// (to kill the server or interrupt the client mid-run).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace codiff::testing {

struct ClientResult {
  int exit_code = -1;  // 128 + signal when killed by one; -1 on timeout
  std::string out;
  std::string err;
};

class ClientProcess {
 public:
  // Starts `codiff args...`; stdin from `stdin_path` ("" = /dev/null).
  explicit ClientProcess(const std::vector<std::string>& args, const std::string& stdin_path = "");
  ~ClientProcess();  // SIGKILL if still running
  ClientProcess(const ClientProcess&) = delete;
  ClientProcess& operator=(const ClientProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int signal_number);
  ClientResult Wait(std::chrono::seconds timeout = std::chrono::seconds(90));

 private:
  pid_t pid_ = -1;
  std::string dir_;
};

// Runs to completion.
ClientResult RunClient(const std::vector<std::string>& args, const std::string& stdin_path = "");

std::string ReadFileBytes(const std::string& path);

}  // namespace codiff::testing
