// codiff-bench-batching: throughput of the server's tile batcher with
// dynamic batching (max_batch_size N) against max_batch_size 1, measured in
// the same process on the same model, so the ratio is what batching buys.
//
//   codiff-bench-batching --model DIR [--batch 8] [--clients 8]
//                         [--requests 64] [--delay_ms 5] [--threads 0]
//
// Each client thread submits one single-tile request at a time and waits for
// its answer, as independent callers of Restore would.
#include <atomic>
#include <cstdio>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "core/runtime/tile_batcher.h"
#include "core/util/status_macros.h"
#include "core/weights/model_folder.h"

namespace codiff::runtime {
namespace {

// Counts batches and the tiles they held.
class BatchCounter : public BatchObserver {
 public:
  void Batch(int tiles, double, const models::StageSeconds&, bool ok) override {
    batches_.fetch_add(1);
    if (ok) tiles_.fetch_add(tiles);
  }
  double MeanBatch() const {
    return batches_.load() > 0 ? static_cast<double>(tiles_.load()) / batches_.load() : 0;
  }

 private:
  std::atomic<int64_t> batches_{0};
  std::atomic<int64_t> tiles_{0};
};

struct RunResult {
  double seconds = 0;
  int tiles = 0;
  double mean_batch = 0;
};

absl::StatusOr<RunResult> RunOnce(const std::string& model_dir, int max_batch, int clients,
                                  int requests, double delay_ms) {
  BatchCounter counter;
  BatcherOptions options;
  options.max_batch_size = max_batch;
  options.max_queue_delay = std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000));
  options.max_queue_size = clients * 2;
  ASSIGN_OR_RETURN(LoadedModel model, LoadModelFolder(model_dir));
  pipeline::RestorerConfig rc;
  rc.max_batch_tiles = max_batch;
  auto restorer = std::make_unique<pipeline::Restorer>(model.generator, rc);
  const int side = restorer->default_tiles().tile_size;
  {  // warm-up at both batch sizes outside the timed region
    std::vector<std::optional<uint64_t>> seeds(max_batch);
    auto w = restorer->RunTiles(torch::rand({max_batch, 3, side, side}),
                                pipeline::RestoreMode::kPerceptual, seeds);
    if (!w.ok()) return w.status();
  }
  TileBatcher batcher(options, &counter);
  std::vector<std::unique_ptr<pipeline::Restorer>> replicas;
  replicas.push_back(std::move(restorer));
  batcher.Start(std::move(replicas));

  const torch::Tensor tile = torch::rand({1, 3, side, side});
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < requests) {
        while (!batcher.TryReserve()) std::this_thread::yield();
        std::promise<bool> done;
        auto job = std::make_unique<TileJob>();
        job->tiles = tile;
        job->seeds.resize(1);
        job->done = [&done](absl::StatusOr<TileJobResult> r) { done.set_value(r.ok()); };
        batcher.Submit(std::move(job));
        if (!done.get_future().get()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  RunResult result;
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result.tiles = requests;
  result.mean_batch = counter.MeanBatch();
  if (failures.load() > 0) return absl::InternalError("some batches failed");
  return result;
}

int Main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[std::string(argv[i]).substr(2)] = argv[i + 1];
  if (!args.count("model")) {
    std::fprintf(stderr,
                 "usage: codiff-bench-batching --model DIR [--batch 8] [--clients 8] "
                 "[--requests 64] [--delay_ms 5] [--threads 0]\n");
    return 2;
  }
  auto get = [&](const char* k, double d) { return args.count(k) ? std::stod(args[k]) : d; };
  const int batch = static_cast<int>(get("batch", 8));
  const int clients = static_cast<int>(get("clients", 8));
  const int requests = static_cast<int>(get("requests", 64));
  const double delay_ms = get("delay_ms", 5);
  if (get("threads", 0) > 0) torch::set_num_threads(static_cast<int>(get("threads", 0)));
  torch::NoGradGuard no_grad;

  auto unbatched = RunOnce(args["model"], 1, clients, requests, delay_ms);
  auto batched = RunOnce(args["model"], batch, clients, requests, delay_ms);
  if (!unbatched.ok() || !batched.ok()) {
    std::fprintf(stderr, "benchmark failed: %s\n",
                 std::string((!unbatched.ok() ? unbatched : batched).status().message()).c_str());
    return 1;
  }
  const double tput1 = unbatched->tiles / unbatched->seconds;
  const double tputn = batched->tiles / batched->seconds;
  std::printf("max_batch_size 1: %d tiles in %.3f s = %.2f tiles/s (mean batch %.2f)\n",
              unbatched->tiles, unbatched->seconds, tput1, unbatched->mean_batch);
  std::printf("max_batch_size %d: %d tiles in %.3f s = %.2f tiles/s (mean batch %.2f)\n", batch,
              batched->tiles, batched->seconds, tputn, batched->mean_batch);
  std::printf("throughput ratio batched/unbatched: %.2fx\n", tputn / tput1);
  return 0;
}

}  // namespace
}  // namespace codiff::runtime

int main(int argc, char** argv) { return codiff::runtime::Main(argc, argv); }
