#include "server/server_metrics.h"

#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"

namespace codiff::server {
namespace {

using prometheus::Histogram;

Histogram::BucketBoundaries LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

}  // namespace

ServerMetrics::ServerMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  requests_ =
      &prometheus::BuildCounter()
           .Name("codiff_requests_total")
           .Help("Finished requests (stream messages count one each) by method and gRPC code")
           .Register(r);
  request_duration_ = &prometheus::BuildHistogram()
                           .Name("codiff_request_duration_seconds")
                           .Help("Time from receipt to response, by method")
                           .Register(r);
  dropped_ = &prometheus::BuildCounter()
                  .Name("codiff_dropped_requests_total")
                  .Help("Requests dropped before compute, by reason (deadline, cancelled)")
                  .Register(r);
  unauthenticated_ = &prometheus::BuildCounter()
                          .Name("codiff_unauthenticated_requests_total")
                          .Help("Calls refused UNAUTHENTICATED (missing or invalid bearer token)")
                          .Register(r)
                          .Add({});
  model_info_ = &prometheus::BuildGauge()
                     .Name("codiff_model_info")
                     .Help("The served model (always 1; facts in the labels)")
                     .Register(r);
  queue_duration_ = &prometheus::BuildHistogram()
                         .Name("codiff_queue_duration_seconds")
                         .Help("Time a request waited for its first model batch")
                         .Register(r)
                         .Add({}, LatencyBuckets());
  stage_duration_ = &prometheus::BuildHistogram()
                         .Name("codiff_stage_duration_seconds")
                         .Help(
                             "Model time per batch and stage (cave, projection, vae_encode, "
                             "unet, vae_decode)")
                         .Register(r);
  for (const char* stage : {"cave", "projection", "vae_encode", "unet", "vae_decode"}) {
    stage_duration_by_stage_[stage] = &stage_duration_->Add({{"stage", stage}}, LatencyBuckets());
  }
  compute_duration_ = &prometheus::BuildHistogram()
                           .Name("codiff_compute_duration_seconds")
                           .Help("Model time per batch")
                           .Register(r)
                           .Add({}, LatencyBuckets());
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("codiff_batch_size_tiles")
                     .Help("Tiles per model batch")
                     .Register(r)
                     .Add({}, Histogram::BucketBoundaries{1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("codiff_queue_depth_requests")
                      .Help("Requests admitted to the batcher and not yet computing")
                      .Register(r)
                      .Add({});
  in_flight_ = &prometheus::BuildGauge()
                    .Name("codiff_in_flight_requests")
                    .Help("Requests being handled anywhere in the server")
                    .Register(r)
                    .Add({});
  tiles_ = &prometheus::BuildCounter()
                .Name("codiff_tiles_processed_total")
                .Help("Tiles run through the model")
                .Register(r)
                .Add({});
  batches_ = &prometheus::BuildCounter()
                  .Name("codiff_batches_total")
                  .Help("Model batches run")
                  .Register(r)
                  .Add({});
  pixels_ = &prometheus::BuildCounter()
                 .Name("codiff_pixels_processed_total")
                 .Help("Image pixels restored")
                 .Register(r)
                 .Add({});
  returned_unchanged_ =
      &prometheus::BuildCounter()
           .Name("codiff_images_returned_unchanged_total")
           .Help("Images sent back as decoded: JPEGs above the model's trained quality")
           .Register(r)
           .Add({});
  bytes_in_ = &prometheus::BuildCounter()
                   .Name("codiff_image_received_bytes_total")
                   .Help("Encoded image bytes received")
                   .Register(r)
                   .Add({});
  bytes_out_ = &prometheus::BuildCounter()
                    .Name("codiff_image_sent_bytes_total")
                    .Help("Encoded image bytes sent")
                    .Register(r)
                    .Add({});
}

absl::Status ServerMetrics::Expose(const std::string& listen, const MetricsHttpOptions& options) {
  HttpFrontEndOptions http;
  http.max_connections = options.max_connections;
  http.header_timeout = options.request_timeout;
  http.body_timeout = options.request_timeout;
  http.idle_timeout = options.request_timeout;
  http.max_header_bytes = static_cast<uint32_t>(options.max_request_bytes);
  http.io_threads = 1;
  auto router = [this](const HttpRequest& head) -> std::variant<HttpRoute, HttpResponse> {
    HttpResponse r;
    r.close = true;  // one request per connection: scrapes never wait on a kept-alive idle one
    r.content_type = "text/plain; charset=utf-8";
    if (head.method != "GET" && head.method != "HEAD") {
      r.status = 405;
      r.headers.emplace_back("Allow", "GET, HEAD");
      r.body = "GET only\n";
    } else if (head.path != "/metrics") {
      r.status = 404;
      r.body = "metrics are at /metrics\n";
    } else {
      r.content_type = kExpositionContentType;
      if (head.method == "GET") r.body = Exposition();
    }
    return r;
  };
  auto server = HttpFrontEnd::Start(listen, router, http);
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("metrics endpoint: ", server.status().message()));
  }
  exposer_ = *std::move(server);
  return absl::OkStatus();
}

std::string ServerMetrics::Exposition() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

std::vector<int> ServerMetrics::listening_ports() const {
  return exposer_ ? std::vector<int>{exposer_->port()} : std::vector<int>{};
}

void ServerMetrics::RecordRequest(const std::string& protocol, const std::string& method,
                                  const std::string& code, double seconds) {
  requests_->Add({{"protocol", protocol}, {"method", method}, {"code", code}}).Increment();
  Histogram* histogram;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = request_duration_by_method_[method];
    if (slot == nullptr) slot = &request_duration_->Add({{"method", method}}, LatencyBuckets());
    histogram = slot;
  }
  histogram->Observe(seconds);
}

void ServerMetrics::SetModelInfo(const std::string& preset, const std::string& device,
                                 bool trained) {
  model_info_
      ->Add({{"preset", preset}, {"device", device}, {"trained", trained ? "true" : "false"}})
      .Set(1);
}

prometheus::Counter& ServerMetrics::dropped(const std::string& reason) {
  return dropped_->Add({{"reason", reason}});
}

void ServerMetrics::Batch(int tiles, double seconds, const models::StageSeconds& stages, bool ok) {
  batch_size_->Observe(tiles);
  compute_duration_->Observe(seconds);
  batches_->Increment();
  if (!ok) return;
  RecordStages(stages);
  tiles_->Increment(tiles);
}

void ServerMetrics::RecordStages(const models::StageSeconds& stages) {
  // Stages a batch did not run (0 s: fidelity has no UNet) are not observed.
  const std::pair<const char*, double> values[] = {{"cave", stages.cave},
                                                   {"projection", stages.projection},
                                                   {"vae_encode", stages.vae_encode},
                                                   {"unet", stages.unet},
                                                   {"vae_decode", stages.vae_decode}};
  for (const auto& [stage, seconds] : values) {
    if (seconds > 0) stage_duration_by_stage_.at(stage)->Observe(seconds);
  }
}

}  // namespace codiff::server
