#include "server/restoration_service.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/image/image_format.h"
#include "server/request_log.h"
#include "server/restore_stream_call.h"
#include "server/status_conversion.h"

namespace codiff::server {
namespace {

namespace v1 = ::codiff::v1;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

constexpr size_t kMaxRequestIdBytes = 256;

// A unary reactor that remembers cancellation for the batcher to see.
class UnaryCall : public grpc::ServerUnaryReactor {
 public:
  void OnCancel() override { cancelled_.store(true); }
  void OnDone() override { delete this; }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Clock::time_point DeadlineOf(const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return Clock::time_point::max();
  }
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(deadline - std::chrono::system_clock::now());
}

// Bookkeeping for one request (one stream message counts as one): ends with
// exactly one Done(), which records metrics, writes the log line and frees
// the in-flight slot.
class RestorationService::Request {
 public:
  Request(RestorationService* service, std::string protocol, std::string method, std::string id,
          int64_t bytes_in)
      : service_(service), start_(Clock::now()) {
    log_.protocol = std::move(protocol);
    log_.method = std::move(method);
    log_.id = std::move(id);
    log_.bytes_in = bytes_in;
    service_->metrics_->bytes_in().Increment(static_cast<double>(bytes_in));
  }
  RequestLogRecord& log() { return log_; }
  Clock::time_point start() const { return start_; }
  absl::Status TakeSlot() {
    absl::Status status = service_->TakeSlot();
    has_slot_ = status.ok();
    return status;
  }

  const absl::Status& Done(const absl::Status& status) {
    log_.total_seconds = Seconds(Clock::now() - start_);
    log_.code = CodeName(status.code());
    log_.message = std::string(status.message());
    service_->metrics_->RecordRequest(log_.protocol, log_.method, log_.code, log_.total_seconds);
    if (service_->config_.log_requests) WriteRequestLog(log_);
    if (has_slot_) {
      service_->in_flight_.fetch_sub(1);
      service_->metrics_->in_flight().Decrement();
    }
    return status;
  }

 private:
  RestorationService* service_;
  Clock::time_point start_;
  RequestLogRecord log_;
  bool has_slot_ = false;
};

RestorationService::RestorationService(const ServerConfig& config, ServerMetrics* metrics)
    : config_(config), metrics_(metrics) {}

void RestorationService::SetReady(ModelFacts facts, runtime::RestoreFlow* flow) {
  facts_ = std::move(facts);
  flow_ = flow;
  ready_.store(true);
}

void RestorationService::StartDraining() { draining_.store(true); }

absl::Status RestorationService::TakeSlot() {
  if (!ready_.load()) return absl::UnavailableError("the model is still loading; retry shortly");
  // Count first, then look at draining_: the drain loop sets draining_ and
  // then waits for in_flight_ to reach 0, so no request slips past it.
  const int count = in_flight_.fetch_add(1) + 1;
  if (draining_.load() || count > config_.limits.max_in_flight) {
    in_flight_.fetch_sub(1);
    if (draining_.load()) return absl::UnavailableError("the server is shutting down");
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many requests in flight (", config_.limits.max_in_flight, "); retry with backoff"));
  }
  metrics_->in_flight().Increment();
  return absl::OkStatus();
}

void RestorationService::RunRestore(const v1::RestoreRequest& request,
                                    v1::RestoreResponse* response, Expiry expiry,
                                    const std::string& protocol, const std::string& method,
                                    Reply reply) {
  // An id is the caller's label, echoed and logged: bounded, so a request
  // cannot make the server write a megabyte into one log line.
  const bool id_too_long = request.id().size() > kMaxRequestIdBytes;
  std::string id = request.id().empty() ? absl::StrCat("r", next_id_.fetch_add(1))
                   : id_too_long        ? absl::StrCat(request.id().substr(0, 32), "...")
                                        : request.id();
  auto call = std::make_shared<Request>(this, protocol, method, id, request.image().size());
  if (!id_too_long) response->set_id(request.id());
  auto finish = [call, reply, response](const absl::Status& status) {
    if (!status.ok()) {
      const std::string id = response->id();
      response->Clear();
      response->set_id(id);
    }
    reply(call->Done(status));
  };
  if (id_too_long) {
    return finish(absl::InvalidArgumentError(absl::StrCat(
        "id is ", request.id().size(), " bytes; at most ", kMaxRequestIdBytes, " are allowed")));
  }
  if (absl::Status slot = call->TakeSlot(); !slot.ok()) return finish(slot);
  auto input = std::make_shared<runtime::RestoreInput>();
  input->image = request.image();
  input->expiry = std::move(expiry);
  auto encode = ToEncodeOptions(request.options());
  if (!encode.ok()) return finish(encode.status());
  input->encode = *encode;
  auto output = ToOutputOptions(request.options());
  if (!output.ok()) return finish(output.status());
  input->output = *output;
  auto options = ToRestoreOptions(request.options(), facts_.default_mode);
  if (!options.ok()) return finish(options.status());
  input->options = *options;
  auto admission = flow_->AdmitRestore(*input, call->start());
  if (!admission.ok()) return finish(admission.status());

  flow_->RunRestore(
      *admission, *input,
      [this, input, call, response, finish](absl::StatusOr<runtime::RestoreOutput> output) {
        if (!output.ok()) return finish(output.status());
        FillRestoreResponse(*output, Seconds(Clock::now() - call->start()), response);
        // gRPC would refuse to send it with a bare "message larger than max";
        // say what would make it fit. Not RESOURCE_EXHAUSTED: a retry cannot.
        const auto bytes = static_cast<int64_t>(response->ByteSizeLong());
        if (bytes > config_.limits.max_message_bytes) {
          response->Clear();
          return finish(absl::FailedPreconditionError(absl::StrFormat(
              "the restored image is %.1f MB encoded as %s, over the %.1f MB message limit "
              "(limits.max_message_bytes): ask for output_format jpeg or webp (codiff "
              "--format jpeg), or raise limits.max_message_bytes",
              output->image.size() / 1e6, image::ImageFormatName(output->format),
              config_.limits.max_message_bytes / 1e6)));
        }
        // Counted only once it is sure to be sent.
        RecordOutput(*output, &call->log());
        metrics_->bytes_out().Increment(static_cast<double>(output->image.size()));
        if (output->unchanged_reason.empty()) {
          metrics_->pixels().Increment(static_cast<double>(output->pixels));
        } else {
          metrics_->returned_unchanged().Increment();
        }
        finish(absl::OkStatus());
      });
}

grpc::ServerUnaryReactor* RestorationService::Restore(grpc::CallbackServerContext* context,
                                                      const v1::RestoreRequest* request,
                                                      v1::RestoreResponse* response) {
  auto* call = new UnaryCall();
  Expiry expiry{DeadlineOf(*context), [call] { return call->cancelled(); }};
  RunRestore(*request, response, expiry, "grpc", "Restore",
             [call](const absl::Status& s) { call->Finish(ToGrpcStatus(s)); });
  return call;
}

grpc::ServerBidiReactor<v1::RestoreRequest, v1::RestoreResponse>* RestorationService::RestoreStream(
    grpc::CallbackServerContext* context) {
  return NewRestoreStreamCall(this, context);
}

grpc::ServerUnaryReactor* RestorationService::EstimateQF(grpc::CallbackServerContext* context,
                                                         const v1::EstimateQFRequest* request,
                                                         v1::EstimateQFResponse* response) {
  auto* reactor = new UnaryCall();
  Expiry expiry{DeadlineOf(*context), [reactor] { return reactor->cancelled(); }};
  RunEstimate(*request, response, expiry, "grpc",
              [reactor](const absl::Status& s) { reactor->Finish(ToGrpcStatus(s)); });
  return reactor;
}

void RestorationService::RunEstimate(const v1::EstimateQFRequest& request,
                                     v1::EstimateQFResponse* response, Expiry expiry,
                                     const std::string& protocol, Reply reply) {
  auto call =
      std::make_shared<Request>(this, protocol, "EstimateQF",
                                absl::StrCat("q", next_id_.fetch_add(1)), request.image().size());
  auto finish = [call, reply, response](const absl::Status& status) {
    if (!status.ok()) response->Clear();
    reply(call->Done(status));
  };
  if (absl::Status slot = call->TakeSlot(); !slot.ok()) return finish(slot);
  auto admission = flow_->AdmitEstimate(request.image(), expiry, call->start());
  if (!admission.ok()) return finish(admission.status());
  flow_->RunEstimate(*admission, request.image(), expiry,
                     [this, response, call, finish](absl::StatusOr<runtime::QfOutput> out) {
                       if (!out.ok()) return finish(out.status());
                       metrics_->compute_duration().Observe(out->compute_seconds);
                       call->log().pixels = out->pixels;
                       call->log().qf = out->predicted_qf;
                       call->log().compute_seconds = out->compute_seconds;
                       response->set_width(out->width);
                       response->set_height(out->height);
                       response->set_format(image::ImageFormatName(out->format));
                       response->set_predicted_qf(out->predicted_qf);
                       response->set_color_profile(out->color_profile);
                       if (const auto& header = out->jpeg_header) {
                         response->set_has_header_qf(header->has_qf);
                         response->set_header_qf(header->qf);
                         response->set_header_qf_exact(header->qf_exact);
                         response->set_header_qf_distance(header->qf_distance);
                         response->set_subsampling(header->subsampling);
                         response->set_progressive(header->progressive);
                       }
                       finish(absl::OkStatus());
                     });
}

grpc::ServerUnaryReactor* RestorationService::GetModelInfo(grpc::CallbackServerContext* context,
                                                           const v1::GetModelInfoRequest*,
                                                           v1::GetModelInfoResponse* response) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(ModelInfo("grpc", response)));
  return reactor;
}

void RestorationService::RecordRefusal(const std::string& protocol, const std::string& method,
                                       int64_t bytes_in, const absl::Status& status) {
  Request call(this, protocol, method, absl::StrCat("h", next_id_.fetch_add(1)), bytes_in);
  call.Done(status);
}

absl::Status RestorationService::ModelInfo(const std::string& protocol,
                                           v1::GetModelInfoResponse* response) {
  Request call(this, protocol, "GetModelInfo", absl::StrCat("i", next_id_.fetch_add(1)), 0);
  if (!ready_.load()) return call.Done(absl::UnavailableError("the model is still loading"));
  FillModelInfo(facts_, config_, response);
  response->set_server_version(CODIFF_VERSION);
  return call.Done(absl::OkStatus());
}

}  // namespace codiff::server
