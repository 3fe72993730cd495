// SHA-256 of a file (OpenSSL's libcrypto), for recording where imported
// weights came from.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace codiff {

// Lower-case hex digest of the file's bytes; `bytes` receives its size.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path, int64_t* bytes = nullptr);

}  // namespace codiff
