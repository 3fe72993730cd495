// The channel to codiff-server: address, TLS and message limits, shared by
// every subcommand.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/status/statusor.h"
#include "client/command_line.h"

namespace codiff::client {

// Images are sent whole; the server accepts up to 64 MiB by default.
inline constexpr int kMaxMessageBytes = 64 << 20;

struct ConnectionOptions {
  std::string server;  // host:port
  bool tls = false;
  std::string ca_file;    // roots for the server certificate; empty: system roots
  std::string cert_file;  // client certificate (mTLS), with key_file
  std::string key_file;
  // Name the server certificate must carry instead of --server's host: for
  // a tunnel (kubectl port-forward to localhost) or a pod IP, where the
  // certificate names the Service. Empty: the host in `server`.
  std::string tls_server_name;
  double connect_timeout_s = 5;
  // Sent as `authorization: Bearer <token>` on every call; empty: none.
  std::string token;
};

// --server, --tls, --ca, --cert, --key, --tls-server-name, --connect-timeout,
// --token-file.
std::vector<OptionSpec> ConnectionOptionSpecs();

// Reads the options above; the address defaults to $CODIFF_SERVER, then
// localhost:50051. --ca/--cert/--key/--tls-server-name imply --tls. The token is the first
// line of --token-file that is neither blank nor a # comment, else
// $CODIFF_TOKEN, else none.
absl::StatusOr<ConnectionOptions> ConnectionOptionsFrom(const CommandLine& line);

// Fails only when a certificate or key file cannot be read. With a token,
// every call on the channel carries it (a client interceptor adds the
// metadata, so it works on plaintext channels too, where gRPC refuses call
// credentials; send tokens in clear text only on a network you trust).
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionOptions& options);

// Waits up to connect_timeout_s for the channel to connect (TCP + TLS
// handshake). False means "server unreachable" (exit code 3).
bool WaitUntilConnected(grpc::Channel& channel, const ConnectionOptions& options);

}  // namespace codiff::client
