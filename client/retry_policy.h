// When and how long to wait before trying a request again. Only the two
// codes the server uses for "not now" are retried: UNAVAILABLE (loading,
// draining, or the connection dropped) and RESOURCE_EXHAUSTED (queue full).
// Delays grow exponentially and are jittered so that many clients (or
// workers) that failed together do not all come back together.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include <grpcpp/support/status.h>

namespace codiff::client {

struct RetryPolicy {
  int max_retries = 4;  // retries after the first attempt
  double initial_backoff_s = 0.25;
  double max_backoff_s = 10;
  double multiplier = 2;

  static bool IsRetryable(grpc::StatusCode code) {
    return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }

  // Delay before retry number `retry` (0 for the first retry): uniformly
  // drawn from [d/2, d] with d = min(max, initial * multiplier^retry).
  std::chrono::milliseconds Backoff(int retry) const;
};

// Stops a long run from spending the full retry budget on every remaining
// file once the server is plainly gone: after `threshold` images in a row
// failed UNAVAILABLE (retries included), the rest are failed at once.
class UnavailableBreaker {
 public:
  explicit UnavailableBreaker(int threshold) : threshold_(threshold) {}
  void Succeeded() { consecutive_.store(0); }
  void Failed(grpc::StatusCode code) {
    if (code == grpc::StatusCode::UNAVAILABLE) consecutive_.fetch_add(1);
  }
  bool tripped() const { return consecutive_.load() >= threshold_; }
  std::string reason() const {
    return "not attempted: the server is unavailable (" + std::to_string(threshold_) +
           " images in a row failed with UNAVAILABLE after retries)";
  }

 private:
  const int threshold_;
  std::atomic<int> consecutive_{0};
};

}  // namespace codiff::client
