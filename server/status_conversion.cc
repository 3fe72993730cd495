#include "server/status_conversion.h"

namespace codiff::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  // absl may grow codes gRPC does not know; those become UNKNOWN.
  const auto grpc_code =
      (code >= 0 && code <= 16) ? static_cast<grpc::StatusCode>(code) : grpc::StatusCode::UNKNOWN;
  return grpc::Status(grpc_code, std::string(status.message()));
}

std::string CodeName(absl::StatusCode code) {
  const int number = static_cast<int>(code);
  // Codes gRPC does not know become UNKNOWN, as ToGrpcStatus makes them.
  if (number < 0 || number > 16) return "UNKNOWN";
  const std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN" : name;
}

}  // namespace codiff::server
