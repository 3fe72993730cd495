#include "core/runtime/tile_batcher.h"

#include <algorithm>
#include <utility>

#include <torch/torch.h>

namespace codiff::runtime {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

absl::Status Expiry::Check(Clock::time_point now) const {
  // gRPC cancels a call when its deadline passes, so a cancellation that
  // comes with the deadline (or within a clock tick of it) is the deadline.
  constexpr auto kClockSkew = std::chrono::milliseconds(50);
  const bool past_deadline = deadline != Clock::time_point::max() && now + kClockSkew >= deadline;
  if (past_deadline && (now >= deadline || (cancelled && cancelled()))) {
    return absl::DeadlineExceededError(
        "the deadline passed; the rest of the request's compute was dropped");
  }
  if (cancelled && cancelled()) return absl::CancelledError("the client cancelled the request");
  return absl::OkStatus();
}

struct TileBatcher::Entry {
  std::unique_ptr<TileJob> job;  // exactly one of job / task
  std::unique_ptr<ModelTask> task;
  Clock::time_point enqueued;
  // Tile shape: only same-shape tiles can share a batch (whole-image
  // "tiles" of the reference strategy differ in both sides).
  int64_t height = 0;
  int64_t width = 0;
  int total = 0;
  int next = 0;      // first tile not yet handed to a batch
  int finished = 0;  // tiles whose outputs are back
  bool started = false;
  bool failed = false;
  std::vector<std::pair<int, torch::Tensor>> outputs;  // (first tile, [n, 3, T, T])
  std::vector<torch::Tensor> qfs;
  double queue_seconds = 0;
  double compute_seconds = 0;
  models::StageSeconds stages;

  const Expiry& expiry() const { return job ? job->expiry : task->expiry; }
  bool SameBatchAs(const Entry& other) const {
    return job && other.job && height == other.height && width == other.width &&
           job->mode == other.job->mode;
  }
};

TileBatcher::TileBatcher(BatcherOptions options, BatchObserver* observer)
    : options_(options), observer_(observer != nullptr ? observer : &no_observer_) {}

TileBatcher::~TileBatcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void TileBatcher::Start(std::vector<std::unique_ptr<pipeline::Restorer>> replicas) {
  replicas_ = std::move(replicas);
  for (auto& r : replicas_) threads_.emplace_back([this, p = r.get()] { Loop(p); });
}

bool TileBatcher::TryReserve() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || reserved_ >= options_.max_queue_size) return false;
  ++reserved_;
  observer_->QueueDepth(reserved_);
  return true;
}

void TileBatcher::CancelReservation() {
  std::lock_guard<std::mutex> lock(mutex_);
  ReleaseSlot();
}

void TileBatcher::ReleaseSlot() {
  --reserved_;
  observer_->QueueDepth(reserved_);
}

void TileBatcher::Submit(std::unique_ptr<TileJob> job) {
  auto entry = std::make_shared<Entry>();
  entry->enqueued = Clock::now();
  entry->total = static_cast<int>(job->tiles.size(0));
  entry->height = job->tiles.size(-2);
  entry->width = job->tiles.size(-1);
  if (entry->total == 0 || static_cast<int>(job->seeds.size()) != entry->total) {
    CancelReservation();
    job->done(absl::InternalError("tile job without tiles or with a wrong seed count"));
    return;
  }
  entry->job = std::move(job);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(entry));
  }
  cv_.notify_all();
}

void TileBatcher::SubmitTask(std::unique_ptr<ModelTask> task) {
  auto entry = std::make_shared<Entry>();
  entry->enqueued = Clock::now();
  entry->task = std::move(task);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(entry));
  }
  cv_.notify_all();
}

void TileBatcher::Loop(pipeline::Restorer* restorer) {
  // Completion callbacks run without the lock (they may post work or submit).
  std::vector<std::function<void()>> callbacks;
  auto run_callbacks = [&](std::unique_lock<std::mutex>& lock) {
    if (callbacks.empty()) return;
    lock.unlock();
    for (auto& c : callbacks) c();
    callbacks.clear();
    lock.lock();
  };

  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything admitted is done

    // Drop work whose caller can no longer use the answer: requests not yet
    // started, and the remaining tiles of started ones (tiles already in a
    // batch finish, their outputs are discarded).
    const auto now = Clock::now();
    for (auto it = queue_.begin(); it != queue_.end();) {
      auto& e = **it;
      absl::Status expired = e.expiry().Check(now);
      if (expired.ok()) {
        ++it;
        continue;
      }
      if (e.started) {
        e.failed = true;
      } else {
        ReleaseSlot();
      }
      observer_->Dropped(expired);
      auto owner = *it;
      if (owner->job) {
        callbacks.push_back([owner, expired] { owner->job->done(expired); });
      } else {
        callbacks.push_back([owner, expired] { owner->task->dropped(expired); });
      }
      it = queue_.erase(it);
    }
    if (queue_.empty()) {
      run_callbacks(lock);
      continue;
    }

    auto front = queue_.front();
    if (front->task) {
      queue_.pop_front();
      ReleaseSlot();
      observer_->Queued(Seconds(now - front->enqueued));
      run_callbacks(lock);
      lock.unlock();
      front->task->run(*restorer);
      lock.lock();
      continue;
    }

    // Wait for company until the batch is full or the oldest tile has waited
    // max_queue_delay.
    int available = 0;
    for (const auto& e : queue_) {
      if (e->SameBatchAs(*front)) available += e->total - e->next;
    }
    const auto flush_at = front->enqueued + options_.max_queue_delay;
    if (available < options_.max_batch_size && now < flush_at && !stopping_) {
      run_callbacks(lock);
      cv_.wait_until(lock, flush_at);
      continue;
    }

    struct Slice {
      std::shared_ptr<Entry> entry;
      int start;
      int count;
    };
    std::vector<Slice> slices;
    int batch = 0;
    for (auto it = queue_.begin(); it != queue_.end() && batch < options_.max_batch_size;) {
      auto e = *it;
      if (!e->SameBatchAs(*front)) {
        ++it;
        continue;
      }
      const int take = std::min(e->total - e->next, options_.max_batch_size - batch);
      slices.push_back({e, e->next, take});
      if (!e->started) {
        e->started = true;
        e->queue_seconds = Seconds(now - e->enqueued);
        observer_->Queued(e->queue_seconds);
        ReleaseSlot();
      }
      e->next += take;
      batch += take;
      it = e->next == e->total ? queue_.erase(it) : std::next(it);
    }
    const auto mode = front->job->mode;
    run_callbacks(lock);
    lock.unlock();

    // One model call over every slice; when it runs out of memory with
    // several requests in it, each request's slice is retried alone, so the
    // batch's size fails only the request that cannot fit by itself.
    struct SliceResult {
      absl::StatusOr<torch::Tensor> out = absl::InternalError("not run");
      torch::Tensor qf;
      double compute = 0;
      models::StageSeconds stages;
    };
    const auto run = [&](size_t first, size_t last) {
      std::vector<torch::Tensor> parts;
      std::vector<std::optional<uint64_t>> seeds;
      int tiles = 0;
      for (size_t i = first; i < last; ++i) {
        const Slice& s = slices[i];
        parts.push_back(s.entry->job->tiles.narrow(0, s.start, s.count));
        seeds.insert(seeds.end(), s.entry->job->seeds.begin() + s.start,
                     s.entry->job->seeds.begin() + s.start + s.count);
        tiles += s.count;
      }
      SliceResult r;
      const auto t0 = Clock::now();
      try {
        torch::Tensor input = parts.size() == 1 ? parts[0] : torch::cat(parts, 0);
        r.out = restorer->RunTiles(input, mode, seeds, &r.qf, &r.stages);
      } catch (const std::exception& e) {
        r.out = absl::InternalError(std::string("batch assembly: ") + e.what());
      }
      r.compute = Seconds(Clock::now() - t0);
      observer_->Batch(tiles, r.compute, r.stages, r.out.ok());
      return r;
    };
    std::vector<SliceResult> results;
    SliceResult whole = run(0, slices.size());
    if (!whole.out.ok() && absl::IsResourceExhausted(whole.out.status()) && slices.size() > 1) {
      for (size_t i = 0; i < slices.size(); ++i) results.push_back(run(i, i + 1));
    } else {
      int offset = 0;
      for (const Slice& s : slices) {
        SliceResult r;
        r.compute = whole.compute;
        r.stages = whole.stages;
        if (whole.out.ok()) {
          r.out = whole.out->narrow(0, offset, s.count);
          if (whole.qf.defined()) r.qf = whole.qf.narrow(0, offset, s.count);
        } else {
          r.out = whole.out.status();
        }
        offset += s.count;
        results.push_back(std::move(r));
      }
    }

    lock.lock();
    for (size_t i = 0; i < slices.size(); ++i) {
      const Slice& s = slices[i];
      SliceResult& r = results[i];
      auto& e = *s.entry;
      if (e.failed) continue;
      if (!r.out.ok()) {
        e.failed = true;
        queue_.erase(std::remove(queue_.begin(), queue_.end(), s.entry), queue_.end());
        callbacks.push_back(
            [owner = s.entry, status = r.out.status()] { owner->job->done(status); });
        continue;
      }
      e.outputs.emplace_back(s.start, *r.out);
      if (r.qf.defined()) e.qfs.push_back(r.qf);
      e.compute_seconds += r.compute;
      e.stages += r.stages;
      e.finished += s.count;
      if (e.finished == e.total) {
        callbacks.push_back([owner = s.entry] {
          auto& entry = *owner;
          std::sort(entry.outputs.begin(), entry.outputs.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
          std::vector<torch::Tensor> ordered;
          for (auto& o : entry.outputs) ordered.push_back(o.second);
          TileJobResult result;
          result.outputs = ordered.size() == 1 ? ordered[0] : torch::cat(ordered, 0);
          if (!entry.qfs.empty()) {
            result.mean_qf = torch::cat(entry.qfs, 0).to(torch::kFloat32).mean().item<float>();
          }
          result.queue_seconds = entry.queue_seconds;
          result.compute_seconds = entry.compute_seconds;
          result.stages = entry.stages;
          entry.job->done(std::move(result));
        });
      }
    }
    run_callbacks(lock);
  }
}

}  // namespace codiff::runtime
