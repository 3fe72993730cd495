#include "server/malformed_request_interceptor.h"

#include <google/protobuf/descriptor.h>
#include <grpc/grpc.h>
#include <grpcpp/server_context.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace codiff::server {
namespace {

// "/codiff.v1.Restoration/Restore" -> "codiff.v1.RestoreRequest" (the
// generated descriptor pool knows every service linked into the server);
// "the request" when it does not.
std::string RequestTypeName(const std::string& method_path) {
  const auto slash = method_path.rfind('/');
  if (method_path.empty() || slash == std::string::npos || slash == 0) return "the request";
  const std::string full_name =
      absl::StrCat(method_path.substr(1, slash - 1), ".", method_path.substr(slash + 1));
  const auto* method =
      google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
  return method != nullptr ? method->input_type()->full_name() : "the request";
}

class MalformedRequestInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit MalformedRequestInterceptor(grpc::experimental::ServerRpcInfo* info) : info_(info) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      const std::string message = absl::StrCat(
          "the request message is not a valid ", RequestTypeName(info_->method()),
          " (truncated, trailing bytes that are not fields, or invalid UTF-8 in a string "
          "field)");
      grpc_call_cancel_with_status(info_->server_context()->c_call(), GRPC_STATUS_INVALID_ARGUMENT,
                                   message.c_str(), nullptr);
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
};

class PassInterceptor : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }
};

}  // namespace

grpc::experimental::Interceptor* MalformedRequestInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  // Only where the request arrives with the call can a null message mean
  // "did not parse" (see the header).
  if (info->type() == Type::UNARY || info->type() == Type::SERVER_STREAMING) {
    return new MalformedRequestInterceptor(info);
  }
  return new PassInterceptor();
}

}  // namespace codiff::server
