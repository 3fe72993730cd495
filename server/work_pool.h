// A fixed pool of threads for the CPU work around the model (decode, tile
// cutting, blending, encoding), so that gRPC's callback threads never block
// and the inference threads only run the model.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace codiff::server {

class WorkPool {
 public:
  explicit WorkPool(int threads);
  // Runs every task already posted, then joins.
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  void Post(std::function<void()> task);

 private:
  void Loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace codiff::server
