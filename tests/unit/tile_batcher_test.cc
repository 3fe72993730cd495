// The runtime's tile batcher without gRPC: batch formation, shapes that must
// not share a batch, deadlines and cancellation, on the tiny random model.
#include "core/runtime/tile_batcher.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/models/model_architecture.h"
#include "core/weights/model_folder.h"

namespace codiff::runtime {
namespace {

class Recorder : public BatchObserver {
 public:
  void Dropped(const absl::Status& why) override {
    std::lock_guard<std::mutex> lock(mutex_);
    dropped_.push_back(why.code());
  }
  void Batch(int tiles, double, const models::StageSeconds&, bool ok) override {
    std::lock_guard<std::mutex> lock(mutex_);
    batches_.push_back(ok ? tiles : -tiles);
  }
  std::vector<int> batches() {
    std::lock_guard<std::mutex> lock(mutex_);
    return batches_;
  }
  std::vector<absl::StatusCode> dropped() {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
  }

 private:
  std::mutex mutex_;
  std::vector<int> batches_;
  std::vector<absl::StatusCode> dropped_;
};

std::vector<std::unique_ptr<pipeline::Restorer>> TinyReplica(
    std::function<void(const torch::Tensor&)> before_model_call = {}) {
  torch::manual_seed(0);
  models::OneStepGenerator generator = BuildGenerator(*models::PresetArchitecture("tiny"));
  pipeline::RestorerConfig config;
  config.tiles = {64, 16};
  config.max_batch_tiles = 8;
  config.before_model_call = std::move(before_model_call);
  std::vector<std::unique_ptr<pipeline::Restorer>> replicas;
  replicas.push_back(std::make_unique<pipeline::Restorer>(generator, config));
  return replicas;
}

// Submits one job of `tiles` ([N, 3, H, W]) and returns its result's future.
std::future<absl::StatusOr<TileJobResult>> Submit(TileBatcher& batcher, torch::Tensor tiles,
                                                  Expiry expiry = {}) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<TileJobResult>>>();
  auto future = promise->get_future();
  EXPECT_TRUE(batcher.TryReserve());
  auto job = std::make_unique<TileJob>();
  job->seeds.resize(static_cast<size_t>(tiles.size(0)));
  job->tiles = std::move(tiles);
  job->expiry = std::move(expiry);
  job->done = [promise](absl::StatusOr<TileJobResult> result) {
    promise->set_value(std::move(result));
  };
  batcher.Submit(std::move(job));
  return future;
}

BatcherOptions Options(int max_batch, int delay_ms) {
  BatcherOptions options;
  options.max_batch_size = max_batch;
  options.max_queue_delay = std::chrono::milliseconds(delay_ms);
  options.max_queue_size = 16;
  return options;
}

TEST(TileBatcherTest, TilesOfDifferentRequestsShareABatch) {
  Recorder recorder;
  TileBatcher batcher(Options(8, 500), &recorder);
  batcher.Start(TinyReplica());
  auto a = Submit(batcher, torch::rand({1, 3, 64, 64}));
  auto b = Submit(batcher, torch::rand({2, 3, 64, 64}));
  auto c = Submit(batcher, torch::rand({1, 3, 64, 64}));
  for (auto* f : {&a, &b, &c}) {
    auto result = f->get();
    ASSERT_TRUE(result.ok()) << result.status();
  }
  EXPECT_EQ(recorder.batches(), std::vector<int>({4}));
}

TEST(TileBatcherTest, ABatchNeverExceedsItsSizeAndKeepsTileOrder) {
  Recorder recorder;
  TileBatcher batcher(Options(2, 50), &recorder);
  batcher.Start(TinyReplica());
  const torch::Tensor tiles = torch::rand({5, 3, 64, 64});
  auto result = Submit(batcher, tiles).get();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(recorder.batches(), std::vector<int>({2, 2, 1}));
  ASSERT_EQ(result->outputs.size(0), 5);
  // Tile 3 alone gives what it gave inside its batch (up to the rounding of
  // batched kernels), and not what its neighbour gave.
  TileBatcher alone(Options(1, 0), nullptr);
  alone.Start(TinyReplica());
  auto single = Submit(alone, tiles.slice(0, 3, 4)).get();
  ASSERT_TRUE(single.ok());
  EXPECT_LE((single->outputs[0] - result->outputs[3]).abs().max().item<double>(), 1e-4);
  EXPECT_GT((single->outputs[0] - result->outputs[2]).abs().max().item<double>(), 1e-2);
}

// What CUDA's caching allocator throws when a batch does not fit on the GPU.
void ThrowCudaOutOfMemoryAbove(const torch::Tensor& x, int64_t max_tiles) {
  if (x.size(0) > max_tiles) {
    throw std::runtime_error(
        "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total capacity)");
  }
}

// A batch that runs out of device memory is retried one request at a time:
// the two requests that fit alone succeed, the one that does not fails with
// a retriable RESOURCE_EXHAUSTED, and the replica serves the next request.
TEST(TileBatcherTest, OutOfMemoryFailsOnlyTheRequestThatDoesNotFit) {
  Recorder recorder;
  TileBatcher batcher(Options(8, 500), &recorder);
  batcher.Start(TinyReplica([](const torch::Tensor& x) { ThrowCudaOutOfMemoryAbove(x, 2); }));
  auto small = Submit(batcher, torch::rand({1, 3, 64, 64}));
  auto large = Submit(batcher, torch::rand({3, 3, 64, 64}));
  auto pair = Submit(batcher, torch::rand({2, 3, 64, 64}));
  auto small_result = small.get();
  auto large_result = large.get();
  auto pair_result = pair.get();
  ASSERT_TRUE(small_result.ok()) << small_result.status();
  ASSERT_TRUE(pair_result.ok()) << pair_result.status();
  EXPECT_EQ(pair_result->outputs.size(0), 2);
  ASSERT_EQ(large_result.status().code(), absl::StatusCode::kResourceExhausted)
      << large_result.status();
  EXPECT_NE(large_result.status().message().find("out of memory"), std::string::npos)
      << large_result.status();
  // The batch of 6 failed, then each request alone: 1 and 2 ran, 3 did not.
  EXPECT_EQ(recorder.batches(), std::vector<int>({-6, 1, -3, 2}));
  auto after = Submit(batcher, torch::rand({1, 3, 64, 64})).get();
  EXPECT_TRUE(after.ok()) << after.status();
}

// Any other failure is not retried: it is not the batch's size.
TEST(TileBatcherTest, OtherFailuresFailTheWholeBatchOnce) {
  Recorder recorder;
  TileBatcher batcher(Options(8, 500), &recorder);
  batcher.Start(TinyReplica([](const torch::Tensor&) { throw std::runtime_error("kernel bug"); }));
  auto a = Submit(batcher, torch::rand({1, 3, 64, 64}));
  auto b = Submit(batcher, torch::rand({1, 3, 64, 64}));
  EXPECT_EQ(a.get().status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(b.get().status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(recorder.batches(), std::vector<int>({-2}));
}

TEST(TileBatcherTest, DifferentShapesNeverShareABatch) {
  Recorder recorder;
  TileBatcher batcher(Options(8, 500), &recorder);
  batcher.Start(TinyReplica());
  // Whole-image "tiles" of the reference strategy: same width, other heights.
  auto a = Submit(batcher, torch::rand({1, 3, 64, 96}));
  auto b = Submit(batcher, torch::rand({1, 3, 96, 96}));
  ASSERT_TRUE(a.get().ok());
  ASSERT_TRUE(b.get().ok());
  EXPECT_EQ(recorder.batches(), std::vector<int>({1, 1}));
}

TEST(TileBatcherTest, ExpiredDeadlineIsDroppedBeforeCompute) {
  Recorder recorder;
  TileBatcher batcher(Options(8, 0), &recorder);
  batcher.Start(TinyReplica());
  Expiry expired;
  expired.deadline = Clock::now() - std::chrono::seconds(1);
  auto result = Submit(batcher, torch::rand({2, 3, 64, 64}), expired).get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(recorder.batches().empty());
  EXPECT_EQ(recorder.dropped(),
            std::vector<absl::StatusCode>({absl::StatusCode::kDeadlineExceeded}));
}

TEST(TileBatcherTest, CancelledCallerIsDroppedBeforeCompute) {
  Recorder recorder;
  TileBatcher batcher(Options(8, 0), &recorder);
  batcher.Start(TinyReplica());
  Expiry cancelled;
  cancelled.cancelled = [] { return true; };
  auto result = Submit(batcher, torch::rand({1, 3, 64, 64}), cancelled).get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(recorder.batches().empty());
  EXPECT_EQ(recorder.dropped(), std::vector<absl::StatusCode>({absl::StatusCode::kCancelled}));
}

// A 4-tile request whose deadline passes during its first batch: its other
// tiles are never computed (at most the one in flight finishes).
TEST(TileBatcherTest, DeadlinePassingMidRequestDropsTheRemainingTiles) {
  Recorder recorder;
  TileBatcher batcher(Options(1, 0), &recorder);
  auto replicas = TinyReplica();
  // Time one tile, so the deadline can be set to fall inside the first.
  const torch::Tensor one = torch::rand({1, 3, 64, 64});
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(replicas[0]->RunTiles(one, pipeline::RestoreMode::kPerceptual, {{}}).ok());
  }
  const auto per_tile = (Clock::now() - t0) / 3;
  batcher.Start(std::move(replicas));
  Expiry expiry;
  expiry.deadline = Clock::now() + per_tile / 2;
  auto result = Submit(batcher, torch::rand({4, 3, 64, 64}), expiry).get();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  const std::vector<int> batches = recorder.batches();
  EXPECT_GE(batches.size(), 1u);
  EXPECT_LE(batches.size(), 2u) << "tiles computed after the deadline";
  EXPECT_EQ(recorder.dropped(),
            std::vector<absl::StatusCode>({absl::StatusCode::kDeadlineExceeded}));
}

TEST(TileBatcherTest, CancellationAtTheDeadlineCountsAsDeadline) {
  Expiry expiry;
  expiry.deadline = Clock::now() - std::chrono::milliseconds(1);
  expiry.cancelled = [] { return true; };  // what gRPC does when the deadline passes
  EXPECT_EQ(expiry.Check(Clock::now()).code(), absl::StatusCode::kDeadlineExceeded);
  expiry.deadline = Clock::now() + std::chrono::hours(1);
  EXPECT_EQ(expiry.Check(Clock::now()).code(), absl::StatusCode::kCancelled);
  expiry.cancelled = [] { return false; };
  EXPECT_TRUE(expiry.Check(Clock::now()).ok());
}

TEST(TileBatcherTest, QueueSlotsAreBounded) {
  TileBatcher batcher(Options(8, 0), nullptr);  // not started: nothing drains
  for (int i = 0; i < 16; ++i) EXPECT_TRUE(batcher.TryReserve());
  EXPECT_FALSE(batcher.TryReserve());
  batcher.CancelReservation();
  EXPECT_TRUE(batcher.TryReserve());
  for (int i = 0; i < 16; ++i) batcher.CancelReservation();
}

}  // namespace
}  // namespace codiff::runtime
