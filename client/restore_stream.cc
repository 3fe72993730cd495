// RestoreStream: one call carries every pending image, with at most
// `concurrency` of them in flight (sent and not yet answered). Answers come
// back out of order and are matched by id. A per-image "not now" error
// (UNAVAILABLE, RESOURCE_EXHAUSTED in RestoreResponse.error) and a broken
// call (the server went away) both put the affected images back for another
// call after a jittered backoff, up to --retries times per image.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/grpc_status_text.h"
#include "client/input_reader.h"
#include "client/restore_job.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;
namespace {

struct Pending {
  size_t index = 0;  // into job.work; also the request id
  int retries = 0;   // retries charged so far
};

struct CallOutcome {
  grpc::Status status;
  int answered = 0;
  std::vector<Pending> unanswered;  // sent, no answer: the call broke
  std::vector<Pending> unsent;      // never sent: no retry charged
  std::vector<Pending> retry;       // answered with a retryable error
};

class StreamCall {
 public:
  StreamCall(v1::Restoration::Stub& stub, const RestoreJob& job, ProgressReporter& progress,
             UnavailableBreaker& breaker)
      : stub_(stub), job_(job), progress_(progress), breaker_(breaker) {}

  CallOutcome Run(std::vector<Pending> items) {
    CallOutcome outcome;
    grpc::ClientContext context;
    // The server applies the call's deadline to every image in it: allow
    // one per-image deadline for each round of `concurrency` images.
    const int64_t rounds =
        static_cast<int64_t>((items.size() + job_.concurrency - 1) / job_.concurrency) + 1;
    context.set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(
            (job_.deadline_s > 0 ? job_.deadline_s : kStreamRoundSeconds) * 1000 * rounds)));
    auto stream = stub_.RestoreStream(&context);

    std::thread writer([&] { WriteAll(*stream, items, &outcome.unsent); });
    v1::RestoreResponse response;
    while (stream->Read(&response)) {
      Pending p;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        size_t index = 0;
        auto it = in_flight_.end();
        if (absl::SimpleAtoi(response.id(), &index)) it = in_flight_.find(index);
        if (it == in_flight_.end()) continue;  // not ours (or answered twice): ignore
        p = it->second;
        in_flight_.erase(it);
      }
      window_.notify_all();
      ++outcome.answered;
      HandleAnswer(p, response, &outcome.retry);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      call_over_ = true;
    }
    window_.notify_all();
    writer.join();
    outcome.status = stream->Finish();
    for (auto& [index, p] : in_flight_) outcome.unanswered.push_back(p);
    in_flight_.clear();
    return outcome;
  }

 private:
  void WriteAll(grpc::ClientReaderWriter<v1::RestoreRequest, v1::RestoreResponse>& stream,
                const std::vector<Pending>& items, std::vector<Pending>* unsent) {
    size_t i = 0;
    for (; i < items.size(); ++i) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        window_.wait(lock, [&] {
          return call_over_ || static_cast<int>(in_flight_.size()) < job_.concurrency;
        });
        if (call_over_) break;
      }
      const PlannedImage& image = job_.work[items[i].index];
      auto bytes = ReadInput(image.input);
      if (!bytes.ok()) {
        progress_.Failed(image.input.display(), std::string(bytes.status().message()));
        continue;
      }
      v1::RestoreRequest request;
      request.set_id(std::to_string(items[i].index));
      request.set_image(*std::move(bytes));
      *request.mutable_options() = job_.options;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        in_flight_[items[i].index] = items[i];
      }
      if (!stream.Write(request)) {
        ++i;  // this one counts as sent: it may have reached the server
        break;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (; i < items.size(); ++i) unsent->push_back(items[i]);
    }
    stream.WritesDone();
  }

  void HandleAnswer(Pending p, const v1::RestoreResponse& response, std::vector<Pending>* retry) {
    const PlannedImage& image = job_.work[p.index];
    if (response.has_error() && response.error().code() != 0) {
      const auto code = static_cast<grpc::StatusCode>(response.error().code());
      const std::string why = Describe(response.error().code(), response.error().message());
      if (RetryPolicy::IsRetryable(code) && p.retries < job_.retry.max_retries) {
        progress_.Detail(absl::StrFormat("will retry %s (retry %d of %d) after %s",
                                         image.input.display(), p.retries + 1,
                                         job_.retry.max_retries, why));
        ++p.retries;
        retry->push_back(p);
        return;
      }
      breaker_.Failed(code);
      progress_.Failed(
          image.input.display(),
          p.retries > 0 ? absl::StrFormat("%s (after %d attempts)", why, p.retries + 1) : why);
      return;
    }
    breaker_.Succeeded();
    Deliver(image, response, job_.overwrite, progress_);
  }

  v1::Restoration::Stub& stub_;
  const RestoreJob& job_;
  ProgressReporter& progress_;
  UnavailableBreaker& breaker_;
  std::mutex mutex_;
  std::condition_variable window_;
  std::map<size_t, Pending> in_flight_;
  bool call_over_ = false;
};

}  // namespace

void RunStreaming(v1::Restoration::Stub& stub, const RestoreJob& job, ProgressReporter& progress,
                  UnavailableBreaker& breaker) {
  std::vector<Pending> pending;
  for (size_t i = 0; i < job.work.size(); ++i) pending.push_back({i, 0});
  int failed_calls = 0;  // consecutive calls that broke without answering anything
  while (!pending.empty()) {
    if (breaker.tripped()) {
      for (const auto& p : pending)
        progress.Failed(job.work[p.index].input.display(), breaker.reason());
      return;
    }
    StreamCall call(stub, job, progress, breaker);
    CallOutcome outcome = call.Run(std::move(pending));
    pending = std::move(outcome.unsent);
    int backoff_retry = -1;  // which backoff step to sleep for; -1: none
    for (auto& p : outcome.retry) {
      backoff_retry = std::max(backoff_retry, p.retries - 1);
      pending.push_back(p);
    }
    if (!outcome.status.ok()) {
      failed_calls = outcome.answered > 0 ? 0 : failed_calls + 1;
      const bool retryable = RetryPolicy::IsRetryable(outcome.status.error_code());
      const std::string why = Describe(outcome.status);
      for (auto& p : outcome.unanswered) {
        if (retryable && p.retries < job.retry.max_retries) {
          ++p.retries;
          backoff_retry = std::max(backoff_retry, p.retries - 1);
          pending.push_back(p);
          continue;
        }
        breaker.Failed(outcome.status.error_code());
        progress.Failed(
            job.work[p.index].input.display(),
            p.retries > 0 ? absl::StrFormat("%s (after %d attempts)", why, p.retries + 1) : why);
      }
      // Calls that die before answering anything charge no image (none
      // may have been sent); cap them so that an absent server ends the run.
      if (!retryable || failed_calls > job.retry.max_retries) {
        const std::string reason =
            retryable ? absl::StrFormat("%s (gave up after %d calls failed)", why, failed_calls)
                      : why;
        for (const auto& p : pending) progress.Failed(job.work[p.index].input.display(), reason);
        return;
      }
      backoff_retry = std::max(backoff_retry, failed_calls - 1);
      progress.Detail(absl::StrFormat("stream call failed (%s); will retry %d images", why,
                                      static_cast<int>(pending.size())));
    } else {
      failed_calls = 0;
      // An OK end with images unanswered would be a server bug; do not loop.
      for (const auto& p : outcome.unanswered) {
        progress.Failed(job.work[p.index].input.display(),
                        "the server ended the stream without "
                        "answering this image");
      }
    }
    if (!pending.empty() && backoff_retry >= 0) {
      std::this_thread::sleep_for(job.retry.Backoff(backoff_retry));
    }
  }
}

}  // namespace codiff::client
