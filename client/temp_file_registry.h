// Every temporary output file alive in this process, so that an interrupt
// (SIGINT, SIGTERM, SIGHUP) removes them before the process exits: a run
// that is stopped leaves only complete outputs behind.
#pragma once

#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace codiff::client {

class TempFileRegistry {
 public:
  static TempFileRegistry& Get();

  // Blocks the interrupt signals in the calling thread and starts a thread
  // that waits for them. Call first thing in main, before any other thread
  // (gRPC starts some) exists, so that every thread inherits the mask and
  // only that thread sees the signals.
  static void InstallSignalCleanup();

  struct TempFile {
    int fd = -1;
    std::string path;
  };
  // A fresh file "<dir>/.<hint>.codiff-tmp-XXXXXX", registered. Fails once an
  // interrupt is being handled.
  absl::StatusOr<TempFile> Create(const std::string& dir, const std::string& hint);

  // Runs `commit` (which renames the file away) under the registry lock, so
  // that an interrupt sees the file either as a temporary (and removes it)
  // or as the finished output, never half-way. The file is unregistered and,
  // if commit failed, removed.
  absl::Status Commit(const std::string& path, const std::function<absl::Status()>& commit);

  // Removes and unregisters a temporary file.
  void Discard(const std::string& path);

 private:
  [[noreturn]] void RemoveAllAndExit(int signal_number);

  std::mutex mutex_;
  std::set<std::string> live_;
  bool interrupted_ = false;
};

}  // namespace codiff::client
