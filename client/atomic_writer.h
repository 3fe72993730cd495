// Writes a whole file or nothing: the bytes go to a temporary file in the
// destination folder (same file system, so the final rename is atomic), are
// flushed, and only then take the final name. Readers never see a partial
// output, and a failed or interrupted write leaves no temporary behind.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/status.h"

namespace codiff::client {

// With `overwrite` false an output that appeared meanwhile is not replaced
// (AlreadyExists). Creates missing parent folders.
absl::Status WriteFileAtomically(const std::filesystem::path& target, const std::string& bytes,
                                 bool overwrite);

// All of `bytes` to stdout (for "-").
absl::Status WriteToStdout(const std::string& bytes);

}  // namespace codiff::client
