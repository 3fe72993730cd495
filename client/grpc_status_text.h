// gRPC statuses as the user reads them: "UNAVAILABLE: the server is
// shutting down".
#pragma once

#include <string>

#include <grpcpp/support/status.h>

namespace codiff::client {

std::string CodeName(grpc::StatusCode code);
std::string Describe(const grpc::Status& status);
std::string Describe(int code, const std::string& message);

}  // namespace codiff::client
