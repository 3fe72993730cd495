#include "client/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace codiff::client {

std::chrono::milliseconds RetryPolicy::Backoff(int retry) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double ceiling =
      std::min(max_backoff_s, initial_backoff_s * std::pow(multiplier, std::max(0, retry)));
  // Half fixed, half random: never a zero wait, still decorrelated.
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(ceiling * jitter(rng) * 1000));
}

}  // namespace codiff::client
