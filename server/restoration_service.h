// codiff.v1.Restoration on the gRPC callback API. Handlers only translate:
// admission (ready, in-flight, queue) happens on the gRPC thread and answers
// overload at once; decoding, tiling, blending and encoding run on the work
// pool; the model runs on the batcher's inference threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "codiff/v1/codiff.grpc.pb.h"
#include "core/pipeline/restorer.h"
#include "core/runtime/tile_batcher.h"
#include "core/weights/model_folder.h"
#include "server/server_config.h"
#include "server/server_metrics.h"
#include "server/work_pool.h"

namespace codiff::server {

// The batcher and its request types live in core/runtime (no gRPC there).
using runtime::BatcherOptions;
using runtime::Clock;
using runtime::Expiry;
using runtime::ModelTask;
using runtime::TileBatcher;
using runtime::TileJob;
using runtime::TileJobResult;

// What GetModelInfo reports; fixed once the model is loaded.
struct ModelFacts {
  std::string preset;
  int64_t parameters = 0;
  int64_t timestep = 0;
  bool trained = false;
  std::string provenance;
  std::string model_dir;
  int trained_qf_min = 0;  // 0 = not recorded
  int trained_qf_max = 0;
  std::vector<SourceFile> sources;  // imported models: what they were made from
  // What RESTORE_MODE_UNSPECIFIED means for this model.
  pipeline::RestoreMode default_mode = pipeline::RestoreMode::kPerceptual;
  pipeline::TileConfig tiles;
  int replicas = 0;
};

class RestorationService final : public codiff::v1::Restoration::CallbackService {
 public:
  RestorationService(const ServerConfig& config, ServerMetrics* metrics, TileBatcher* batcher,
                     WorkPool* pool);

  // The model is loaded and warmed up; `preparer` (a replica's restorer) is
  // used only for its const, thread-safe Prepare/Finish.
  void SetReady(ModelFacts facts, const pipeline::Restorer* preparer);
  // From now on new work is answered UNAVAILABLE; admitted work goes on.
  void StartDraining();
  int in_flight() const { return in_flight_.load(); }

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
  // `reply` runs (exactly once, on some thread). Public for RestoreStream's
  // reactor.
  void RunRestore(const codiff::v1::RestoreRequest& request, codiff::v1::RestoreResponse* response,
                  Expiry expiry, const std::string& method,
                  std::function<void(grpc::Status)> reply);

 private:
  class Request;  // per-request bookkeeping: timing, log record, admission

  // In-flight slot + queue slot, or the status to answer at once.
  absl::Status Admit(Clock::time_point now, const Expiry& expiry);

  ServerConfig config_;
  ServerMetrics* metrics_;
  TileBatcher* batcher_;
  WorkPool* pool_;
  ModelFacts facts_;
  const pipeline::Restorer* preparer_ = nullptr;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<uint64_t> next_id_{1};
};

// The call's deadline on the steady clock (max when none).
Clock::time_point DeadlineOf(const grpc::CallbackServerContext& context);

}  // namespace codiff::server
