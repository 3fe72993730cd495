// What the tile batcher reports as it runs: the server implements this with
// Prometheus (server/server_metrics.h), tests with counters. All calls come
// from the batcher's threads and must be cheap and thread-safe.
#pragma once

#include "absl/status/status.h"
#include "core/models/one_step_generator.h"

namespace codiff::runtime {

class BatchObserver {
 public:
  virtual ~BatchObserver() = default;
  // Requests admitted and not yet computing.
  virtual void QueueDepth(int requests) {}
  // A request dropped before (the rest of) its compute: its deadline passed
  // (DeadlineExceeded) or its caller went away (Cancelled).
  virtual void Dropped(const absl::Status& why) {}
  // How long a request waited before its first tiles ran.
  virtual void Queued(double seconds) {}
  // One model batch: its tiles, wall time, time per stage, and whether it ran.
  virtual void Batch(int tiles, double seconds, const models::StageSeconds& stages, bool ok) {}
};

}  // namespace codiff::runtime
