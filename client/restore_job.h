// A planned restore run and the two ways of executing it: unary Restore
// calls from a pool of workers, or RestoreStream calls with a window of
// images in flight. Both write each result atomically as soon as it
// arrives and report through the same ProgressReporter.
#pragma once

#include <vector>

#include "client/output_naming.h"
#include "client/progress_reporter.h"
#include "client/retry_policy.h"
#include "codiff/v1/codiff.grpc.pb.h"

namespace codiff::client {

struct RestoreJob {
  std::vector<PlannedImage> work;
  codiff::v1::RestoreOptions options;
  RetryPolicy retry;
  double deadline_s = 120;  // per image
  int concurrency = 4;      // images in flight
  bool overwrite = false;
};

void RunUnary(codiff::v1::Restoration::Stub& stub, const RestoreJob& job,
              ProgressReporter& progress, UnavailableBreaker& breaker);

void RunStreaming(codiff::v1::Restoration::Stub& stub, const RestoreJob& job,
                  ProgressReporter& progress, UnavailableBreaker& breaker);

// Writes one result (atomically, or to stdout for "-") and reports it.
void Deliver(const PlannedImage& image, const codiff::v1::RestoreResponse& response, bool overwrite,
             ProgressReporter& progress);

}  // namespace codiff::client
