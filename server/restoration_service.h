// codiff.v1.Restoration on the gRPC callback API. Handlers translate protos
// and count calls; the work itself (admission by cost, decode, tiles,
// batching, encode) is runtime::RestoreFlow's. The HTTP front end
// (server/http_api.h) calls the same RunRestore / RunEstimate / ModelInfo
// with its protocol's name, so both share one in-flight count, drain, log
// and set of metrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "codiff/v1/codiff.grpc.pb.h"
#include "core/runtime/restore_flow.h"
#include "server/proto_translation.h"
#include "server/server_config.h"
#include "server/server_metrics.h"

namespace codiff::server {

using runtime::Clock;
using runtime::Expiry;

class RestorationService final : public codiff::v1::Restoration::CallbackService {
 public:
  RestorationService(const ServerConfig& config, ServerMetrics* metrics);

  // The model is loaded and warmed up; `flow` runs the requests from now on
  // and must outlive every call.
  void SetReady(ModelFacts facts, runtime::RestoreFlow* flow);
  // From now on new work is answered UNAVAILABLE; admitted work goes on.
  void StartDraining();
  int in_flight() const { return in_flight_.load(); }
  // Loaded and not draining: what a readiness probe reports.
  bool serving() const { return ready_.load() && !draining_.load(); }

  grpc::ServerUnaryReactor* Restore(grpc::CallbackServerContext* context,
                                    const codiff::v1::RestoreRequest* request,
                                    codiff::v1::RestoreResponse* response) override;
  grpc::ServerBidiReactor<codiff::v1::RestoreRequest, codiff::v1::RestoreResponse>* RestoreStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* EstimateQF(grpc::CallbackServerContext* context,
                                       const codiff::v1::EstimateQFRequest* request,
                                       codiff::v1::EstimateQFResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const codiff::v1::GetModelInfoRequest* request,
                                         codiff::v1::GetModelInfoResponse* response) override;

  // Restores one image; `request` and `response` must stay valid until
  // `reply` runs (exactly once, on some thread). `protocol` ("grpc",
  // "http") labels the metrics and the log line.
  using Reply = std::function<void(const absl::Status&)>;
  void RunRestore(const codiff::v1::RestoreRequest& request, codiff::v1::RestoreResponse* response,
                  Expiry expiry, const std::string& protocol, const std::string& method,
                  Reply reply);
  void RunEstimate(const codiff::v1::EstimateQFRequest& request,
                   codiff::v1::EstimateQFResponse* response, Expiry expiry,
                   const std::string& protocol, Reply reply);
  absl::Status ModelInfo(const std::string& protocol, codiff::v1::GetModelInfoResponse* response);
  // A request its front end refused before it could be run (a query that
  // does not parse): logged and counted like any other.
  void RecordRefusal(const std::string& protocol, const std::string& method, int64_t bytes_in,
                     const absl::Status& status);

 private:
  class Request;  // per-request bookkeeping: timing, log record, in-flight slot

  // Ready, not draining, under max_in_flight: takes an in-flight slot.
  absl::Status TakeSlot();

  ServerConfig config_;
  ServerMetrics* metrics_;
  ModelFacts facts_;
  runtime::RestoreFlow* flow_ = nullptr;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> next_id_{1};
};

// The call's deadline on the steady clock (max when none).
Clock::time_point DeadlineOf(const grpc::CallbackServerContext& context);

}  // namespace codiff::server
