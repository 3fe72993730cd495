// Unary Restore calls, `concurrency` worker threads sharing one channel.
#include <atomic>
#include <thread>

#include "absl/strings/str_format.h"
#include "client/atomic_writer.h"
#include "client/grpc_status_text.h"
#include "client/input_reader.h"
#include "client/restore_job.h"
#include "client/rpc_retry.h"
#include "core/image/image_probe.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;

void Deliver(const PlannedImage& image, const v1::RestoreResponse& response, bool overwrite,
             ProgressReporter& progress) {
  if (response.image().empty()) {
    progress.Failed(image.input.display(), "the server returned an empty image");
    return;
  }
  absl::Status written = image.output.empty()
                             ? WriteToStdout(response.image())
                             : WriteFileAtomically(image.output, response.image(), overwrite);
  if (!written.ok()) {
    progress.Failed(image.input.display(), std::string(written.message()));
    return;
  }
  for (const std::string& note : response.notes()) {
    progress.Detail(image.input.display() + ": " + note);
  }
  progress.Succeeded(image.input.display(),
                     image.output.empty() ? std::string("stdout") : image.output.string(),
                     response.unchanged_reason(), response.mode_note());
}

double DeadlineSeconds(const RestoreJob& job, std::string_view image_bytes) {
  if (job.deadline_s > 0) return job.deadline_s;
  auto info = image::ProbeImage(image_bytes);
  if (!info.ok()) return 120;
  return 120 + 6e-6 * static_cast<double>(info->width) * info->height;
}

namespace {

void RestoreOne(v1::Restoration::Stub& stub, const RestoreJob& job, const PlannedImage& image,
                ProgressReporter& progress, UnavailableBreaker& breaker) {
  const std::string name = image.input.display();
  auto bytes = ReadInput(image.input);
  if (!bytes.ok()) {
    progress.Failed(name, std::string(bytes.status().message()));
    return;
  }
  v1::RestoreRequest request;
  request.set_image(*std::move(bytes));
  *request.mutable_options() = job.options;
  v1::RestoreResponse response;
  int attempts = 0;
  const grpc::Status status = CallWithRetries(
      job.retry, DeadlineSeconds(job, request.image()),
      [&](grpc::ClientContext* context) {
        // A retry after the breaker tripped would only burn more time.
        if (breaker.tripped()) return grpc::Status(grpc::StatusCode::ABORTED, breaker.reason());
        response.Clear();
        return stub.Restore(context, request, &response);
      },
      [&](const grpc::Status& s, int retry, std::chrono::milliseconds delay) {
        progress.Detail(absl::StrFormat("retrying %s in %.2f s (retry %d of %d) after %s", name,
                                        delay.count() / 1000.0, retry + 1, job.retry.max_retries,
                                        Describe(s)));
      },
      &attempts);
  if (!status.ok()) {
    breaker.Failed(status.error_code());
    std::string reason = Describe(status);
    if (attempts > 1) reason += absl::StrFormat(" (after %d attempts)", attempts);
    progress.Failed(name, reason);
    return;
  }
  breaker.Succeeded();
  Deliver(image, response, job.overwrite, progress);
}

}  // namespace

void RunUnary(v1::Restoration::Stub& stub, const RestoreJob& job, ProgressReporter& progress,
              UnavailableBreaker& breaker) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < job.work.size(); i = next.fetch_add(1)) {
      if (breaker.tripped()) {
        progress.Failed(job.work[i].input.display(), breaker.reason());
        continue;
      }
      RestoreOne(stub, job, job.work[i], progress, breaker);
    }
  };
  const size_t threads = std::min(job.work.size(), static_cast<size_t>(job.concurrency));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

}  // namespace codiff::client
