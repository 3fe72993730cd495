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

std::string GrpcCodeName(grpc::StatusCode code) {
  // The same canonical codes: absl holds their names.
  const std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

}  // namespace codiff::server
