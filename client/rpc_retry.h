// Runs one unary RPC under RetryPolicy: a fresh ClientContext (and
// deadline) per attempt, a jittered sleep between attempts, and a stop on the
// first status that is not worth retrying.
#pragma once

#include <chrono>
#include <thread>

#include <grpcpp/client_context.h>

#include "client/retry_policy.h"

namespace codiff::client {

// `call(grpc::ClientContext*)` performs the RPC; `on_retry(status, retry,
// delay)` is told before each sleep. *attempts (optional) receives how many
// calls were made.
template <typename Call, typename OnRetry>
grpc::Status CallWithRetries(const RetryPolicy& policy, double deadline_s, Call&& call,
                             OnRetry&& on_retry, int* attempts = nullptr) {
  for (int retry = 0;; ++retry) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(static_cast<int64_t>(deadline_s * 1000)));
    grpc::Status status = call(&context);
    if (attempts != nullptr) *attempts = retry + 1;
    if (status.ok() || !RetryPolicy::IsRetryable(status.error_code()) ||
        retry >= policy.max_retries) {
      return status;
    }
    const auto delay = policy.Backoff(retry);
    on_retry(status, retry, delay);
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace codiff::client
