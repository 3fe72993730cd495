#include "client/input_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "client/connection.h"

namespace codiff::client {
namespace {

// Leaves room for the request's other fields inside the message limit.
constexpr int64_t kMaxImageBytes = kMaxMessageBytes - 4096;

std::string KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

absl::Status TooLarge(int64_t size) {
  return absl::InvalidArgumentError(absl::StrCat("too large for one request (", size,
                                                 " bytes; the limit is ", kMaxImageBytes, ")"));
}

absl::Status ReadAll(int fd, std::string* out) {
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n == 0) return absl::OkStatus();
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("read failed: ", std::strerror(errno)));
    }
    out->append(buffer, static_cast<size_t>(n));
    if (static_cast<int64_t>(out->size()) > kMaxImageBytes) {
      return TooLarge(static_cast<int64_t>(out->size()));
    }
  }
}

}  // namespace

absl::StatusOr<std::string> ReadInput(const Input& input) {
  std::string bytes;
  if (input.is_stdin) {
    if (absl::Status s = ReadAll(STDIN_FILENO, &bytes); !s.ok()) return s;
    if (bytes.empty()) return absl::InvalidArgumentError("stdin is empty");
    return bytes;
  }
  const std::string path = input.path.string();
  // O_NONBLOCK: opening a FIFO for reading must not hang the whole run.
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    struct stat st;
    if (error == ENOENT && lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return absl::NotFoundError("cannot read: dangling symbolic link");
    }
    return absl::NotFoundError(absl::StrCat("cannot read: ", std::strerror(error)));
  }
  struct stat st;
  absl::Status status;
  if (fstat(fd, &st) != 0) {
    status = absl::UnavailableError(absl::StrCat("cannot stat: ", std::strerror(errno)));
  } else if (!S_ISREG(st.st_mode)) {
    status = absl::InvalidArgumentError("cannot read: " + KindOf(st.st_mode));
  } else if (st.st_size > kMaxImageBytes) {
    status = TooLarge(st.st_size);
  } else {
    // Back to blocking reads for the regular file.
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    bytes.reserve(static_cast<size_t>(st.st_size));
    status = ReadAll(fd, &bytes);
    if (status.ok() && bytes.empty()) status = absl::InvalidArgumentError("empty file");
  }
  close(fd);
  if (!status.ok()) return status;
  return bytes;
}

}  // namespace codiff::client
