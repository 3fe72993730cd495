// Optional bearer-token authentication for every gRPC service of the server.
//
// A call must carry `authorization: Bearer <token>` with a token from
// auth.token_file, unless its service is in auth.exempt_services (health by
// default; add grpc.reflection.v1alpha.ServerReflection to let tools list
// the API without a token). A call without a valid token is answered
// UNAUTHENTICATED before its handler sees the request.
//
// How, with gRPC 1.51's C++ API: an AuthMetadataProcessor runs only on TLS
// ports (InsecureServerCredentials asserts on it), and a server interceptor
// cannot stop a call from reaching its handler. So this interceptor, on the
// received metadata, ends the call at the transport with UNAUTHENTICATED
// (grpc_call_cancel_with_status on the call's core handle: the client gets
// that status and message, never a response), and empties the request
// message before the handler runs. The handler then sees a cancelled call
// with an empty request: it does no decoding and no model work, and its
// answer is discarded. Refused calls are counted by the `on_refused`
// callback (codiff_unauthenticated_requests_total); the service's own
// request metrics and log may also record them as CANCELLED or
// INVALID_ARGUMENT.
//
// Over plaintext a token can be read by anyone on the path: use TLS (tls.*)
// or a network you trust.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "server/bearer_tokens.h"

namespace codiff::server {

class AuthInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  // `exempt_services`: full service names ("grpc.health.v1.Health").
  // `message_services`: services whose handlers take generated protobuf
  // messages (codiff.v1.Restoration): a refused call's request is emptied
  // there; other services' handlers (gRPC's health service reads raw bytes)
  // get the call cancelled only. `on_refused(method)` runs once per refused
  // call (may be empty).
  AuthInterceptorFactory(std::shared_ptr<const BearerTokens> tokens,
                         std::vector<std::string> exempt_services,
                         std::vector<std::string> message_services,
                         std::function<void(const std::string& method)> on_refused);

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<const BearerTokens> tokens_;
  std::vector<std::string> exempt_services_;
  std::vector<std::string> message_services_;
  std::function<void(const std::string&)> on_refused_;
};

// "/pkg.Service/Method" -> "pkg.Service" ("" when malformed).
std::string ServiceOfMethod(const std::string& method_path);

}  // namespace codiff::server
