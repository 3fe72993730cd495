// A minimal HTTP/1.1 endpoint that serves a prometheus-cpp registry at
// /metrics. prometheus-cpp's own Exposer (civetweb) fails to start when the
// process also links Debian's LibTorch ("null context when constructing
// CivetServer"), so the server uses this instead.
//
// One thread runs a poll loop over the listening socket and every open
// connection, so a client that is slow or silent costs a file descriptor and
// nothing else: it cannot delay another client's scrape. Bounds:
//  * at most `max_connections` open at once; a connection beyond that is
//    answered 503 (best effort, never waiting) and closed at once;
//  * each connection has `request_timeout` for the whole exchange (reading
//    the request and writing the answer), however it trickles its bytes;
//  * a request head longer than `max_request_bytes` is answered 431;
//  * one request per connection (Connection: close).
// Destruction wakes the loop through an eventfd and closes every connection
// at once: it never waits for idle clients.
//
// This is an operator's endpoint (Prometheus, probes), unauthenticated and
// plaintext: bind it to a cluster-internal address, never to the internet.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace codiff::server {

struct MetricsHttpOptions {
  int max_connections = 256;
  std::chrono::milliseconds request_timeout{5000};
  int max_request_bytes = 8192;
};

class MetricsHttpServer {
 public:
  // Binds HOST:PORT (port 0 picks a free one) and starts serving.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
      const MetricsHttpOptions& options = {});
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }
  // Connections closed at once because max_connections were open, and
  // connections closed because their request_timeout ran out.
  int64_t refused_connections() const { return refused_.load(); }
  int64_t timed_out_connections() const { return timed_out_.load(); }

 private:
  struct Connection;
  MetricsHttpServer(int listen_fd, int wake_fd, int port,
                    std::shared_ptr<prometheus::Registry> registry, MetricsHttpOptions options);
  void Serve();
  // Reads what has arrived; when the request head is complete (or too
  // large) fills the connection's answer. False: close the connection.
  bool OnReadable(Connection& connection);
  // Sends what the socket takes; false when done or failed (close it).
  bool OnWritable(Connection& connection);
  std::string Answer(const std::string& request_head) const;

  int listen_fd_;
  int wake_fd_;  // eventfd: written by the destructor to stop the loop
  int port_;
  std::shared_ptr<prometheus::Registry> registry_;
  MetricsHttpOptions options_;
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> timed_out_{0};
  std::thread thread_;
};

}  // namespace codiff::server
