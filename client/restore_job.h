// A planned restore run and the two ways of executing it: unary Restore
// calls from a pool of workers, or RestoreStream calls with a window of
// images in flight. Both write each result atomically as soon as it
// arrives and report through the same ProgressReporter.
#pragma once

#include <string_view>
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
  // Per image and attempt; 0: scaled to the image (DeadlineSeconds).
  double deadline_s = 0;
  int concurrency = 4;  // images in flight
  bool overwrite = false;
};

void RunUnary(codiff::v1::Restoration::Stub& stub, const RestoreJob& job,
              ProgressReporter& progress, UnavailableBreaker& breaker);

void RunStreaming(codiff::v1::Restoration::Stub& stub, const RestoreJob& job,
                  ProgressReporter& progress, UnavailableBreaker& breaker);

// The time allowed for one image and attempt: job.deadline_s when set,
// otherwise 120 s plus 6 s per megapixel of the image (read from its header;
// 120 s when unreadable), so that camera-sized photos restore with the
// defaults on CPU servers (50 MP: 420 s; measured 171 s on 2 cores).
double DeadlineSeconds(const RestoreJob& job, std::string_view image_bytes);
// RestoreStream calls without --deadline: per round of `concurrency` images.
inline constexpr double kStreamRoundSeconds = 600;

// Writes one result (atomically, or to stdout for "-") and reports it.
void Deliver(const PlannedImage& image, const codiff::v1::RestoreResponse& response, bool overwrite,
             ProgressReporter& progress);

}  // namespace codiff::client
