// Reads one input's bytes, refusing what cannot be an image file without
// blocking on it: FIFOs, devices, directories, dangling symlinks, files too
// large for one gRPC message.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "client/input_expansion.h"

namespace codiff::client {

absl::StatusOr<std::string> ReadInput(const Input& input);

}  // namespace codiff::client
