// A minimal HTTP/1.1 endpoint that serves a prometheus-cpp registry at
// /metrics. prometheus-cpp's own Exposer (civetweb) fails to start when the
// process also links Debian's LibTorch ("null context when constructing
// CivetServer"), so the server uses this instead: one thread, one request
// per connection, bounded reads, nothing else.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <prometheus/registry.h>

#include "absl/status/statusor.h"

namespace codiff::server {

class MetricsHttpServer {
 public:
  // Binds HOST:PORT (port 0 picks a free one) and starts serving.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer(int fd, int port, std::shared_ptr<prometheus::Registry> registry);
  void Serve();
  void HandleConnection(int connection);

  int listen_fd_;
  int port_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace codiff::server
