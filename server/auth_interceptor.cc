#include "server/auth_interceptor.h"

#include <google/protobuf/message.h>
#include <grpc/grpc.h>
#include <grpcpp/server_context.h>

#include <algorithm>

namespace codiff::server {
namespace {

constexpr char kRefusal[] =
    "missing or invalid bearer token: send metadata 'authorization: Bearer <token>'";

class AuthInterceptor : public grpc::experimental::Interceptor {
 public:
  AuthInterceptor(grpc::experimental::ServerRpcInfo* info, const BearerTokens* tokens,
                  bool clear_request, const std::function<void(const std::string&)>* on_refused)
      : info_(info), tokens_(tokens), clear_request_(clear_request), on_refused_(on_refused) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      bool accepted = false;
      const auto* metadata = methods->GetRecvInitialMetadata();
      if (metadata != nullptr) {
        const auto range = metadata->equal_range("authorization");
        for (auto it = range.first; it != range.second; ++it) {
          accepted |= tokens_->Accepts(absl::string_view(it->second.data(), it->second.size()));
        }
      }
      if (!accepted) {
        refused_ = true;
        grpc_call_cancel_with_status(info_->server_context()->c_call(), GRPC_STATUS_UNAUTHENTICATED,
                                     kRefusal, nullptr);
        if (*on_refused_) (*on_refused_)(info_->method());
      }
    }
    if (refused_ && clear_request_ &&
        methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // The handler still runs (gRPC gives an interceptor no way to stop
      // it); give it nothing to work on.
      if (void* message = methods->GetRecvMessage(); message != nullptr) {
        static_cast<google::protobuf::Message*>(message)->Clear();
      }
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  const BearerTokens* tokens_;
  bool clear_request_;
  const std::function<void(const std::string&)>* on_refused_;
  bool refused_ = false;
};

// Exempt calls pass untouched.
class PassInterceptor : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    methods->Proceed();
  }
};

}  // namespace

std::string ServiceOfMethod(const std::string& method_path) {
  if (method_path.size() < 3 || method_path.front() != '/') return "";
  const auto slash = method_path.rfind('/');
  if (slash == 0) return "";
  return method_path.substr(1, slash - 1);
}

AuthInterceptorFactory::AuthInterceptorFactory(
    std::shared_ptr<const BearerTokens> tokens, std::vector<std::string> exempt_services,
    std::vector<std::string> message_services,
    std::function<void(const std::string& method)> on_refused)
    : tokens_(std::move(tokens)),
      exempt_services_(std::move(exempt_services)),
      message_services_(std::move(message_services)),
      on_refused_(std::move(on_refused)) {}

grpc::experimental::Interceptor* AuthInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  const std::string service = ServiceOfMethod(info->method());
  if (std::find(exempt_services_.begin(), exempt_services_.end(), service) !=
      exempt_services_.end()) {
    return new PassInterceptor();
  }
  const bool clear_request = std::find(message_services_.begin(), message_services_.end(),
                                       service) != message_services_.end();
  return new AuthInterceptor(info, tokens_.get(), clear_request, &on_refused_);
}

}  // namespace codiff::server
