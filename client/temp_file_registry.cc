#include "client/temp_file_registry.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

namespace codiff::client {
namespace {

sigset_t InterruptSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

TempFileRegistry& TempFileRegistry::Get() {
  static TempFileRegistry* registry = new TempFileRegistry();  // never destroyed: used at exit
  return *registry;
}

void TempFileRegistry::InstallSignalCleanup() {
  sigset_t set = InterruptSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A closed stdout pipe (codiff restore - | head) should fail the write,
  // not kill the process.
  signal(SIGPIPE, SIG_IGN);
  std::thread([set] {
    int signal_number = 0;
    while (sigwait(&set, &signal_number) != 0) {
    }
    Get().RemoveAllAndExit(signal_number);
  }).detach();
}

void TempFileRegistry::RemoveAllAndExit(int signal_number) {
  // The lock is never released: no worker may create or commit a file after
  // this point, and the process ends below.
  mutex_.lock();
  interrupted_ = true;
  for (const auto& path : live_) unlink(path.c_str());
  const std::string message =
      absl::StrCat("\ncodiff: interrupted by ", strsignal(signal_number), "; removed ",
                   live_.size(), " temporary file", live_.size() == 1 ? "" : "s", "\n");
  if (write(STDERR_FILENO, message.data(), message.size()) < 0) {
  }
  // Conventional status for death by signal, without running destructors
  // of objects other threads are still using.
  std::_Exit(128 + signal_number);
}

absl::StatusOr<TempFileRegistry::TempFile> TempFileRegistry::Create(const std::string& dir,
                                                                    const std::string& hint) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (interrupted_) return absl::CancelledError("interrupted");
  std::string pattern = absl::StrCat(dir.empty() ? "." : dir, "/.", hint, ".codiff-tmp-XXXXXX");
  const int fd = mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create a file in ", dir, ": ", std::strerror(errno)));
  }
  live_.insert(pattern);
  return TempFile{fd, pattern};
}

absl::Status TempFileRegistry::Commit(const std::string& path,
                                      const std::function<absl::Status()>& commit) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::Status status = interrupted_ ? absl::CancelledError("interrupted") : commit();
  if (!status.ok()) unlink(path.c_str());
  live_.erase(path);
  return status;
}

void TempFileRegistry::Discard(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  unlink(path.c_str());
  live_.erase(path);
}

}  // namespace codiff::client
