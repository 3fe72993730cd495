#include "client/connection.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <grpcpp/support/client_interceptor.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace codiff::client {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("cannot read " + what + " file " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Adds `authorization: Bearer <token>` to every call's initial metadata.
class BearerTokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerTokenInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token) : header_("Bearer " + token) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerTokenInterceptor(&header_);
  }

 private:
  std::string header_;
};

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  auto text = ReadPem(path, "--token-file");
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line.front() != '#') return std::string(line);
  }
  return absl::InvalidArgumentError("--token-file " + path + " holds no token");
}

}  // namespace

std::vector<OptionSpec> ConnectionOptionSpecs() {
  return {
      {"server", 0, "HOST:PORT", "server address (default: $CODIFF_SERVER, then localhost:50051)"},
      {"tls", 0, "", "connect with TLS (system roots unless --ca)"},
      {"ca", 0, "FILE", "PEM roots that sign the server certificate (implies --tls)"},
      {"cert", 0, "FILE", "PEM client certificate for mutual TLS (with --key)"},
      {"key", 0, "FILE", "PEM private key of --cert"},
      {"tls-server-name", 0, "NAME",
       "check the server certificate for NAME instead of --server's host (e.g. the "
       "Service's DNS name through kubectl port-forward; implies --tls)"},
      {"connect-timeout", 0, "SECONDS", "give up connecting after this long, exit 3 (default 5)"},
      {"token-file", 0, "FILE",
       "send the bearer token in FILE (first line; default: $CODIFF_TOKEN, if set)"},
  };
}

absl::StatusOr<ConnectionOptions> ConnectionOptionsFrom(const CommandLine& line) {
  ConnectionOptions o;
  const char* env = std::getenv("CODIFF_SERVER");
  o.server = line.Get("server", env != nullptr && *env != '\0' ? env : "localhost:50051");
  if (o.server.empty()) return absl::InvalidArgumentError("--server must not be empty");
  o.ca_file = line.Get("ca");
  o.cert_file = line.Get("cert");
  o.key_file = line.Get("key");
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together");
  }
  o.tls_server_name = line.Get("tls-server-name");
  if (line.Has("tls-server-name") && o.tls_server_name.empty()) {
    return absl::InvalidArgumentError("--tls-server-name must not be empty");
  }
  o.tls =
      line.Has("tls") || !o.ca_file.empty() || !o.cert_file.empty() || !o.tls_server_name.empty();
  auto timeout = line.GetSeconds("connect-timeout", 5);
  if (!timeout.ok()) return timeout.status();
  o.connect_timeout_s = *timeout;
  if (line.Has("token-file")) {
    auto token = ReadToken(line.Get("token-file"));
    if (!token.ok()) return token.status();
    o.token = *std::move(token);
  } else if (const char* token = std::getenv("CODIFF_TOKEN"); token != nullptr) {
    o.token = std::string(absl::StripAsciiWhitespace(token));
  }
  return o;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto roots = ReadPem(options.ca_file, "--ca");
      if (!roots.ok()) return roots.status();
      ssl.pem_root_certs = *roots;
    }
    if (!options.cert_file.empty()) {
      auto cert = ReadPem(options.cert_file, "--cert");
      if (!cert.ok()) return cert.status();
      auto key = ReadPem(options.key_file, "--key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  // Reconnect quickly after a server restart; the default starts at 1 s and
  // grows to 2 min, far longer than our own per-file retry budget.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  if (options.token.empty()) return grpc::CreateCustomChannel(options.server, credentials, args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(options.token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(options.server, credentials, args,
                                                                 std::move(interceptors));
}

bool WaitUntilConnected(grpc::Channel& channel, const ConnectionOptions& options) {
  const auto deadline =
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(options.connect_timeout_s * 1000));
  return channel.WaitForConnected(deadline);
}

}  // namespace codiff::client
