#include "client/grpc_status_text.h"

#include "absl/status/status.h"

namespace codiff::client {

std::string CodeName(grpc::StatusCode code) {
  // gRPC's codes are absl's, number for number (the canonical codes); absl
  // holds their names.
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "CODE_" + std::to_string(static_cast<int>(code)) : name;
}

std::string Describe(int code, const std::string& message) {
  std::string out = CodeName(static_cast<grpc::StatusCode>(code));
  if (!message.empty()) out += ": " + message;
  return out;
}

std::string Describe(const grpc::Status& status) {
  return Describe(status.error_code(), status.error_message());
}

}  // namespace codiff::client
