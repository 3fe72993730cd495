#include "server/restore_stream_call.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <queue>

#include "server/restoration_service.h"
#include "server/status_conversion.h"

namespace codiff::server {
namespace {

namespace v1 = ::codiff::v1;

class StreamCall : public grpc::ServerBidiReactor<v1::RestoreRequest, v1::RestoreResponse> {
 public:
  StreamCall(RestorationService* service, grpc::CallbackServerContext* context)
      : service_(service), deadline_(DeadlineOf(*context)) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard<std::mutex> lock(mutex_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    auto request = std::make_shared<v1::RestoreRequest>(std::move(incoming_));
    auto response = std::make_shared<v1::RestoreResponse>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++pending_;
    }
    Expiry expiry{deadline_, [this] { return cancelled_.load(); }};
    service_->RunRestore(*request, response.get(), expiry, "grpc", "RestoreStream",
                         [this, request, response](const absl::Status& status) {
                           if (!status.ok()) {
                             auto* error = response->mutable_error();
                             error->set_code(static_cast<int>(ToGrpcStatus(status).error_code()));
                             error->set_message(std::string(status.message()));
                           }
                           Enqueue(response);
                         });
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mutex_);
    outgoing_.pop();
    --pending_;
    if (!ok) write_failed_ = true;
    if (!outgoing_.empty() && !write_failed_) {
      StartWrite(outgoing_.front().get());
    } else {
      // Drop what cannot be sent any more; the call is broken.
      while (!outgoing_.empty() && write_failed_) {
        outgoing_.pop();
        --pending_;
      }
      writing_ = false;
    }
    MaybeFinishLocked();
  }

  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }

 private:
  void Enqueue(std::shared_ptr<v1::RestoreResponse> response) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (write_failed_) {
      --pending_;
      MaybeFinishLocked();
      return;
    }
    outgoing_.push(std::move(response));
    if (!writing_) {
      writing_ = true;
      StartWrite(outgoing_.front().get());
    }
  }

  void MaybeFinishLocked() {
    if (finished_ || !reads_done_ || pending_ > 0 || writing_) return;
    finished_ = true;
    Finish(cancelled_.load() ? grpc::Status::CANCELLED : grpc::Status::OK);
  }

  RestorationService* service_;
  const Clock::time_point deadline_;
  v1::RestoreRequest incoming_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::queue<std::shared_ptr<v1::RestoreResponse>> outgoing_;
  int pending_ = 0;  // requests read and not yet written (or dropped)
  bool reads_done_ = false;
  bool writing_ = false;
  bool write_failed_ = false;
  bool finished_ = false;
};

}  // namespace

grpc::ServerBidiReactor<v1::RestoreRequest, v1::RestoreResponse>* NewRestoreStreamCall(
    RestorationService* service, grpc::CallbackServerContext* context) {
  return new StreamCall(service, context);
}

}  // namespace codiff::server
