// The one place where core's absl::Status becomes a gRPC status.
#pragma once

#include <string>

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace codiff::server {

// Codes map one to one (absl and gRPC share the canonical numbering); the
// message is kept, because core writes messages meant for end users.
grpc::Status ToGrpcStatus(const absl::Status& status);

// "OK", "INVALID_ARGUMENT", ...: the metric label and log field (absl's
// names, which are gRPC's).
std::string CodeName(absl::StatusCode code);

}  // namespace codiff::server
