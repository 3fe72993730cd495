// The codiff API over HTTP/1.1, on server/http_front_end.h. It only
// translates: a query string becomes the RestoreOptions message gRPC
// callers send, the body becomes its image, and RestorationService runs it
// exactly as it runs a gRPC call (one in-flight count, admission, limits,
// deadlines, drain, log line and metrics, labelled protocol="http").
//
//   POST /v1/restore?mode=fidelity&output_format=jpeg   body: the image
//        -> the restored image, facts in X-Codiff-* and Server-Timing headers
//   POST /v1/estimate-qf                                -> EstimateQFResponse JSON
//   GET  /v1/model                                      -> GetModelInfoResponse JSON
//   GET  /v2/health/live, /v2/health/ready              (Open Inference Protocol)
//   GET  /metrics                                       (Prometheus text)
//
// Errors are JSON {"code": "INVALID_ARGUMENT", "message": ...} with the
// message gRPC would carry and the status of Google's gRPC-to-HTTP table
// (HttpStatusFor). A deadline comes from the X-Request-Timeout header
// (seconds); a bearer token from Authorization, as on gRPC.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "codiff/v1/codiff.pb.h"
#include "server/bearer_tokens.h"
#include "server/http_front_end.h"
#include "server/restoration_service.h"
#include "server/server_config.h"
#include "server/server_metrics.h"

namespace codiff::server {

class HttpApi {
 public:
  // `tokens` null: no authentication. Everything must outlive the front end.
  HttpApi(RestorationService* service, ServerMetrics* metrics, const ServerConfig& config,
          std::shared_ptr<const BearerTokens> tokens);

  // The front end's router (HttpRouter).
  std::variant<HttpRoute, HttpResponse> Route(const HttpRequest& head) const;

 private:
  void Restore(HttpRequest request, HttpReply reply) const;
  void EstimateQf(HttpRequest request, HttpReply reply) const;

  RestorationService* service_;
  ServerMetrics* metrics_;
  int64_t max_body_bytes_;
  std::shared_ptr<const BearerTokens> tokens_;
};

// Sets `request`'s id and options from a query string: each RestoreOptions
// field by its proto name (mode=fidelity, output_format=jpeg, seed=7,
// skip_jpeg_consistency=true, ...; enum values by their short name in any
// case or their full name) and `id`. Unknown names, repeated names, bad
// percent-escapes and values that do not parse are InvalidArgument.
absl::Status ParseRestoreQuery(std::string_view query, codiff::v1::RestoreRequest* request);

// The HTTP status for a gRPC/absl code (Google's API design table:
// INVALID_ARGUMENT 400, UNAUTHENTICATED 401, RESOURCE_EXHAUSTED 429,
// UNAVAILABLE 503, DEADLINE_EXCEEDED 504, ...).
int HttpStatusFor(absl::StatusCode code);

}  // namespace codiff::server
