#include "client/atomic_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "client/temp_file_registry.h"

namespace codiff::client {
namespace fs = std::filesystem;
namespace {

absl::Status WriteAll(int fd, const std::string& bytes, const std::string& what) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("cannot write ", what, ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

mode_t CreationMode() {
  // mkstemp makes 0600 files; outputs should look like any other new file.
  static const mode_t mode = [] {
    const mode_t mask = umask(0);
    umask(mask);
    return static_cast<mode_t>(0666 & ~mask);
  }();
  return mode;
}

// Moves `temp` to `target` without ever replacing an existing `target`:
// link() fails with EEXIST where rename() would silently clobber.
absl::Status LinkNoReplace(const std::string& temp, const std::string& target) {
  if (link(temp.c_str(), target.c_str()) == 0) {
    unlink(temp.c_str());
    return absl::OkStatus();
  }
  const int error = errno;
  if (error == EEXIST) return absl::AlreadyExistsError("output exists: " + target);
  if (error == EPERM || error == EOPNOTSUPP || error == ENOSYS) {
    // File systems without hard links: check, then rename (a small race).
    struct stat st;
    if (lstat(target.c_str(), &st) == 0) {
      return absl::AlreadyExistsError("output exists: " + target);
    }
    if (rename(temp.c_str(), target.c_str()) == 0) return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat("cannot create ", target, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status WriteFileAtomically(const fs::path& target, const std::string& bytes, bool overwrite) {
  const fs::path dir = target.parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create folder ", dir.string(), ": ", ec.message()));
    }
  }
  auto& registry = TempFileRegistry::Get();
  auto temp = registry.Create(dir.string(), target.filename().string());
  if (!temp.ok()) return temp.status();
  absl::Status status = WriteAll(temp->fd, bytes, target.string());
  if (status.ok() && fchmod(temp->fd, CreationMode()) != 0) {
    status = absl::UnavailableError(absl::StrCat("chmod failed: ", std::strerror(errno)));
  }
  // Flushed before the rename, so that a crash cannot leave a complete name
  // over incomplete contents.
  if (status.ok() && fsync(temp->fd) != 0) {
    status = absl::UnavailableError(
        absl::StrCat("cannot flush ", target.string(), ": ", std::strerror(errno)));
  }
  if (close(temp->fd) != 0 && status.ok()) {
    status = absl::UnavailableError(
        absl::StrCat("cannot write ", target.string(), ": ", std::strerror(errno)));
  }
  if (!status.ok()) {
    registry.Discard(temp->path);
    return status;
  }
  const std::string temp_path = temp->path;
  const std::string target_path = target.string();
  return registry.Commit(temp_path, [&]() -> absl::Status {
    if (!overwrite) return LinkNoReplace(temp_path, target_path);
    if (rename(temp_path.c_str(), target_path.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot rename to ", target_path, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  });
}

absl::Status WriteToStdout(const std::string& bytes) {
  return WriteAll(STDOUT_FILENO, bytes, "stdout");
}

}  // namespace codiff::client
