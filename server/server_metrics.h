// The server's Prometheus metrics (codiff_ prefix, base units, _total
// counters, low-cardinality labels), exposed on their own HTTP port so that
// scraping never competes with the gRPC port.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "core/models/one_step_generator.h"
#include "core/runtime/batch_observer.h"
#include "server/http_front_end.h"

namespace codiff::server {

// The metrics endpoint's bounds (metrics_http in the config). It is served
// by the same HTTP front end as the API (server/http_front_end.h), one
// request per connection.
struct MetricsHttpOptions {
  int max_connections = 256;
  // The whole exchange: the request head, then the answer's write.
  std::chrono::milliseconds request_timeout{5000};
  int max_request_bytes = 8192;
};

class ServerMetrics : public runtime::BatchObserver {
 public:
  ServerMetrics();

  // Starts the HTTP endpoint on HOST:PORT (serves /metrics; 404 elsewhere,
  // 405 for other methods).
  absl::Status Expose(const std::string& listen, const MetricsHttpOptions& options = {});
  // The bound ports (useful with port 0).
  std::vector<int> listening_ports() const;

  // One finished request (an RPC, a stream message or an HTTP request):
  // protocol is "grpc" or "http"; method is "Restore", "RestoreStream",
  // "EstimateQF" or "GetModelInfo"; code is the gRPC code name ("OK",
  // "INVALID_ARGUMENT", ...), whatever the protocol.
  void RecordRequest(const std::string& protocol, const std::string& method,
                     const std::string& code, double seconds);
  // The text exposition of every metric (what /metrics serves, on the
  // metrics port and the API's HTTP port), and its Content-Type.
  std::string Exposition() const;
  static constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

  void SetModelInfo(const std::string& preset, const std::string& device, bool trained);

  // One model batch's time per stage (codiff_stage_duration_seconds{stage}).
  void RecordStages(const models::StageSeconds& stages);

  // runtime::BatchObserver: the batcher's events as metrics.
  void QueueDepth(int requests) override { queue_depth_->Set(requests); }
  void Dropped(const absl::Status& why) override {
    dropped(absl::IsDeadlineExceeded(why) ? "deadline" : "cancelled").Increment();
  }
  void Queued(double seconds) override { queue_duration_->Observe(seconds); }
  void Batch(int tiles, double seconds, const models::StageSeconds& stages, bool ok) override;

  prometheus::Histogram& queue_duration() { return *queue_duration_; }
  prometheus::Histogram& compute_duration() { return *compute_duration_; }
  prometheus::Histogram& batch_size() { return *batch_size_; }
  prometheus::Gauge& queue_depth() { return *queue_depth_; }
  prometheus::Gauge& in_flight() { return *in_flight_; }
  prometheus::Counter& tiles() { return *tiles_; }
  prometheus::Counter& batches() { return *batches_; }
  prometheus::Counter& pixels() { return *pixels_; }
  prometheus::Counter& returned_unchanged() { return *returned_unchanged_; }
  prometheus::Counter& bytes_in() { return *bytes_in_; }
  prometheus::Counter& bytes_out() { return *bytes_out_; }
  prometheus::Counter& dropped(const std::string& reason);
  // Calls refused for a missing or invalid bearer token (no label: the
  // method name is the caller's to choose).
  prometheus::Counter& unauthenticated() { return *unauthenticated_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<HttpFrontEnd> exposer_;

  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* request_duration_;
  prometheus::Family<prometheus::Counter>* dropped_;
  prometheus::Counter* unauthenticated_;
  prometheus::Family<prometheus::Gauge>* model_info_;
  prometheus::Family<prometheus::Histogram>* stage_duration_;
  std::map<std::string, prometheus::Histogram*> stage_duration_by_stage_;
  prometheus::Histogram* queue_duration_;
  prometheus::Histogram* compute_duration_;
  prometheus::Histogram* batch_size_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* in_flight_;
  prometheus::Counter* tiles_;
  prometheus::Counter* batches_;
  prometheus::Counter* pixels_;
  prometheus::Counter* returned_unchanged_;
  prometheus::Counter* bytes_in_;
  prometheus::Counter* bytes_out_;

  std::mutex mutex_;  // Family::Add is thread-safe; this guards the caches
  std::map<std::string, prometheus::Histogram*> request_duration_by_method_;
};

}  // namespace codiff::server
