// Answers a request message that does not parse with INVALID_ARGUMENT and a
// message that says so, instead of gRPC's UNIMPLEMENTED with no message.
//
// Why gRPC says UNIMPLEMENTED: in gRPC 1.51's callback API
// (grpcpp/impl/codegen/server_callback_handlers.h,
// CallbackUnaryHandler::RunHandler) a request that fails to deserialize
// (truncated protobuf, trailing bytes that are not valid fields, invalid
// UTF-8 in a proto3 string field) gets no handler call: the library finishes
// the call with an UnimplementedUnaryReactor(Status(UNIMPLEMENTED, "")),
// discarding the parse error. The sync API does the same. Our service code
// never sees such a call.
//
// What we can do: a server interceptor sees the request at
// POST_RECV_MESSAGE before that reactor runs; for a method whose request
// comes with the call (unary, server streaming), a null message there means
// the bytes did not parse. The interceptor then ends the call with
// INVALID_ARGUMENT through grpc_call_cancel_with_status; the library's
// UNIMPLEMENTED comes later and is dropped.
//
// What we cannot: in a client- or bidi-streaming call (RestoreStream) gRPC
// reports a message that does not parse exactly like the end of the client's
// stream (ServerBidiReactor::OnReadDone(false); CallOpRecvMessage sets the
// same null message for both), so neither the interceptor nor the handler
// can tell them apart: the stream answers the messages it read and ends OK.
// docs/security.md says so.
#pragma once

#include <grpcpp/support/server_interceptor.h>

namespace codiff::server {

class MalformedRequestInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace codiff::server
