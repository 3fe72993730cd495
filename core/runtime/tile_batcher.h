// Dynamic batching over tiles: requests are cut into same-shape tiles, and
// tiles from different requests with the same shape and mode share one model
// call. One inference thread per replica owns its Restorer (and device); all
// replicas drain one shared queue.
//
// Admission is two-step so that overload is answered before any decoding:
// TryReserve() takes a queue slot (false = queue full, answer
// RESOURCE_EXHAUSTED at once); Submit()/SubmitTask() use it, or
// CancelReservation() gives it back. The slot is freed when the request's
// first tiles start computing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/pipeline/restorer.h"
#include "core/runtime/batch_observer.h"

namespace codiff::runtime {

using Clock = std::chrono::steady_clock;

struct BatcherOptions {
  int max_batch_size = 8;
  Clock::duration max_queue_delay = std::chrono::milliseconds(5);
  int max_queue_size = 64;
};

struct TileJobResult {
  torch::Tensor outputs;  // [N, 3, T, T] in the job's tile order
  float mean_qf = 0;      // CaVE's QF averaged over the tiles
  double queue_seconds = 0;
  double compute_seconds = 0;   // wall time of the batches that held its tiles
  models::StageSeconds stages;  // of those batches, per stage
};

// Work that is dropped once its deadline passes or its caller goes away:
// before it starts, or between model calls (its remaining tiles).
struct Expiry {
  Clock::time_point deadline = Clock::time_point::max();
  std::function<bool()> cancelled;  // may be empty
  // OK, or the status to fail with (DeadlineExceeded / Cancelled).
  absl::Status Check(Clock::time_point now) const;
};

struct TileJob {
  torch::Tensor tiles;  // [N, 3, T, T]
  pipeline::RestoreMode mode = pipeline::RestoreMode::kPerceptual;
  std::vector<std::optional<uint64_t>> seeds;  // one per tile
  Expiry expiry;
  // Called exactly once, on an inference thread (or inside Submit on
  // failure). Must be quick: hand heavy work to another thread.
  std::function<void(absl::StatusOr<TileJobResult>)> done;
};

// Runs on an inference thread with exclusive use of that replica's Restorer.
struct ModelTask {
  Expiry expiry;
  std::function<void(pipeline::Restorer&)> run;
  std::function<void(absl::Status)> dropped;  // called instead of run when expired
};

class TileBatcher {
 public:
  // `observer` may be null; it must outlive the batcher.
  TileBatcher(BatcherOptions options, BatchObserver* observer);
  // Stops after the queue is empty (every admitted job completes).
  ~TileBatcher();

  // Starts one inference thread per replica.
  void Start(std::vector<std::unique_ptr<pipeline::Restorer>> replicas);

  bool TryReserve();
  void CancelReservation();
  void Submit(std::unique_ptr<TileJob> job);
  void SubmitTask(std::unique_ptr<ModelTask> task);

  const BatcherOptions& options() const { return options_; }

 private:
  struct Entry;
  void Loop(pipeline::Restorer* restorer);
  void ReleaseSlot();  // mutex_ held

  BatcherOptions options_;
  BatchObserver* observer_;
  BatchObserver no_observer_;
  std::vector<std::unique_ptr<pipeline::Restorer>> replicas_;
  std::vector<std::thread> threads_;

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Entry>> queue_;
  int reserved_ = 0;
  bool stopping_ = false;
};

}  // namespace codiff::runtime
