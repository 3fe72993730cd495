#include "server/restoration_service.h"

#include <memory>
#include <mutex>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/image/jpeg_header.h"
#include "server/request_log.h"
#include "server/status_conversion.h"

namespace codiff::server {
namespace {

namespace v1 = ::codiff::v1;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

constexpr size_t kMaxRequestIdBytes = 256;

absl::StatusOr<image::EncodeOptions> ToEncodeOptions(const v1::RestoreOptions& o) {
  image::EncodeOptions out;
  switch (o.output_format()) {
    case v1::IMAGE_FORMAT_UNSPECIFIED:
    case v1::IMAGE_FORMAT_PNG:
      out.format = image::ImageFormat::kPng;
      break;
    case v1::IMAGE_FORMAT_JPEG:
      out.format = image::ImageFormat::kJpeg;
      break;
    case v1::IMAGE_FORMAT_WEBP:
      out.format = image::ImageFormat::kWebp;
      break;
    default:
      return absl::InvalidArgumentError("unknown output_format");
  }
  if (o.output_quality() < 0 || o.output_quality() > 100) {
    return absl::InvalidArgumentError("output_quality must be 0..100");
  }
  out.quality = o.output_quality() == 0 ? 95 : o.output_quality();
  return out;
}

// `default_mode`: what the served model runs when the request names no mode.
absl::StatusOr<pipeline::RestoreOptions> ToRestoreOptions(const v1::RestoreOptions& o,
                                                          pipeline::RestoreMode default_mode) {
  pipeline::RestoreOptions out;
  switch (o.mode()) {
    case v1::RESTORE_MODE_UNSPECIFIED:
      out.mode = default_mode;
      break;
    case v1::RESTORE_MODE_PERCEPTUAL:
      out.mode = pipeline::RestoreMode::kPerceptual;
      break;
    case v1::RESTORE_MODE_FIDELITY:
      out.mode = pipeline::RestoreMode::kFidelity;
      break;
    default:
      return absl::InvalidArgumentError("unknown mode");
  }
  switch (o.color_fix()) {
    case v1::COLOR_FIX_UNSPECIFIED:
      break;  // the mode's default
    case v1::COLOR_FIX_ADAIN:
      out.color_fix = pipeline::ColorFix::kAdain;
      break;
    case v1::COLOR_FIX_WAVELET:
      out.color_fix = pipeline::ColorFix::kWavelet;
      break;
    case v1::COLOR_FIX_NONE:
      out.color_fix = pipeline::ColorFix::kNone;
      break;
    default:
      return absl::InvalidArgumentError("unknown color_fix");
  }
  if (o.seed_choice_case() == v1::RestoreOptions::kSeed) out.seed = o.seed();
  out.restore_high_quality_jpeg = o.restore_high_quality_jpeg();
  if (o.tile_size() < 0) return absl::InvalidArgumentError("tile_size must be >= 0");
  out.tile_size = o.tile_size();
  out.jpeg_consistency = !o.skip_jpeg_consistency();
  return out;
}

v1::ImageFormat ToProtoFormat(image::ImageFormat f) {
  switch (f) {
    case image::ImageFormat::kJpeg:
      return v1::IMAGE_FORMAT_JPEG;
    case image::ImageFormat::kWebp:
      return v1::IMAGE_FORMAT_WEBP;
    default:
      return v1::IMAGE_FORMAT_PNG;
  }
}

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
  Request(RestorationService* service, std::string method, std::string id, int64_t bytes_in)
      : service_(service), start_(Clock::now()) {
    log_.method = std::move(method);
    log_.id = std::move(id);
    log_.bytes_in = bytes_in;
  }
  RequestLogRecord& log() { return log_; }
  Clock::time_point start() const { return start_; }
  void set_admitted() { admitted_ = true; }

  grpc::Status Done(const absl::Status& status) {
    grpc::Status grpc_status = ToGrpcStatus(status);
    log_.total_seconds = Seconds(Clock::now() - start_);
    log_.code = GrpcCodeName(grpc_status.error_code());
    log_.message = grpc_status.error_message();
    service_->metrics_->RecordRequest(log_.method, log_.code, log_.total_seconds);
    if (service_->config_.log_requests) WriteRequestLog(log_);
    if (admitted_) {
      service_->in_flight_.fetch_sub(1);
      service_->metrics_->in_flight().Decrement();
    }
    return grpc_status;
  }

 private:
  RestorationService* service_;
  Clock::time_point start_;
  RequestLogRecord log_;
  bool admitted_ = false;
};

RestorationService::RestorationService(const ServerConfig& config, ServerMetrics* metrics,
                                       TileBatcher* batcher, WorkPool* pool)
    : config_(config), metrics_(metrics), batcher_(batcher), pool_(pool) {}

void RestorationService::SetReady(ModelFacts facts, const pipeline::Restorer* preparer) {
  facts_ = std::move(facts);
  preparer_ = preparer;
  ready_.store(true);
}

void RestorationService::StartDraining() { draining_.store(true); }

absl::Status RestorationService::Admit(Clock::time_point now, const Expiry& expiry) {
  if (!ready_.load()) return absl::UnavailableError("the model is still loading; retry shortly");
  // Count first, then look at draining_: the drain loop sets draining_ and
  // then waits for in_flight_ to reach 0, so no request slips past it.
  const int count = in_flight_.fetch_add(1) + 1;
  auto back_out = [&](absl::Status status) {
    in_flight_.fetch_sub(1);
    return status;
  };
  if (draining_.load()) return back_out(absl::UnavailableError("the server is shutting down"));
  if (count > config_.limits.max_in_flight) {
    return back_out(absl::ResourceExhaustedError(absl::StrCat(
        "too many requests in flight (", config_.limits.max_in_flight, "); retry with backoff")));
  }
  if (absl::Status expired = expiry.Check(now); !expired.ok()) return back_out(expired);
  if (!batcher_->TryReserve()) {
    return back_out(absl::ResourceExhaustedError(
        absl::StrCat("the queue is full (", config_.batching.max_queue_size,
                     " requests waiting); retry with backoff")));
  }
  metrics_->in_flight().Increment();
  return absl::OkStatus();
}

void RestorationService::RunRestore(const v1::RestoreRequest& request,
                                    v1::RestoreResponse* response, Expiry expiry,
                                    const std::string& method,
                                    std::function<void(grpc::Status)> reply) {
  // An id is the caller's label, echoed and logged: bounded, so a request
  // cannot make the server write a megabyte into one log line.
  const bool id_too_long = request.id().size() > kMaxRequestIdBytes;
  std::string id = request.id().empty() ? absl::StrCat("r", next_id_.fetch_add(1))
                   : id_too_long        ? absl::StrCat(request.id().substr(0, 32), "...")
                                        : request.id();
  auto call = std::make_shared<Request>(this, method, id, request.image().size());
  metrics_->bytes_in().Increment(static_cast<double>(request.image().size()));
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
    finish(absl::InvalidArgumentError(absl::StrCat(
        "id is ", request.id().size(), " bytes; at most ", kMaxRequestIdBytes, " are allowed")));
    return;
  }
  if (absl::Status admitted = Admit(call->start(), expiry); !admitted.ok()) {
    finish(admitted);
    return;
  }
  call->set_admitted();

  pool_->Post([this, &request, response, expiry, call, finish] {
    auto fail_before_submit = [&](const absl::Status& status) {
      batcher_->CancelReservation();
      finish(status);
    };
    if (absl::Status expired = expiry.Check(Clock::now()); !expired.ok()) {
      return fail_before_submit(expired);
    }
    auto encode_options = ToEncodeOptions(request.options());
    if (!encode_options.ok()) return fail_before_submit(encode_options.status());
    auto restore_options = ToRestoreOptions(request.options(), facts_.default_mode);
    if (!restore_options.ok()) return fail_before_submit(restore_options.status());
    image::ImageLimits limits;
    limits.max_bytes = static_cast<uint64_t>(config_.limits.max_message_bytes);
    limits.max_pixels = static_cast<uint64_t>(config_.limits.max_pixels);
    limits.max_side = config_.limits.max_side;
    auto decoded = image::DecodeImage(request.image(), limits);
    if (!decoded.ok()) return fail_before_submit(decoded.status());
    call->log().pixels = static_cast<int64_t>(decoded->rgb.width) * decoded->rgb.height;
    auto prepared = preparer_->Prepare(*decoded, *restore_options);
    if (!prepared.ok()) return fail_before_submit(prepared.status());
    auto shared = std::make_shared<pipeline::PreparedImage>(*std::move(prepared));
    const image::EncodeOptions encode = *encode_options;
    // Blends the tiles (or takes the decoded image, when it goes back
    // unchanged), encodes and answers: CPU work, kept off the inference thread.
    auto deliver = [this, response, call, finish, shared, encode](const TileJobResult& result) {
      const bool unchanged = !shared->unchanged_reason.empty();
      auto& log = call->log();
      log.queue_seconds = result.queue_seconds;
      log.compute_seconds = result.compute_seconds;
      log.cave_seconds = result.stages.cave + result.stages.projection;
      log.vae_encode_seconds = result.stages.vae_encode;
      log.unet_seconds = result.stages.unet;
      log.vae_decode_seconds = result.stages.vae_decode;
      log.tiles = unchanged ? 0 : static_cast<int>(shared->tiles.size(0));
      if (!unchanged) log.qf = result.mean_qf;
      auto restored = preparer_->Finish(*shared, result.outputs);
      if (!restored.ok()) return finish(restored.status());
      log.finish_seconds = restored->stages.color_fix + restored->stages.jpeg_projection;
      auto bytes = image::EncodeImage(restored->image, encode);
      if (!bytes.ok()) return finish(bytes.status());
      log.bytes_out = static_cast<int64_t>(bytes->size());
      metrics_->bytes_out().Increment(static_cast<double>(bytes->size()));
      if (unchanged) {
        metrics_->returned_unchanged().Increment();
        response->set_unchanged_reason(restored->unchanged_reason);
      } else {
        metrics_->pixels().Increment(static_cast<double>(log.pixels));
        response->set_predicted_qf(result.mean_qf);
      }
      response->set_image(*std::move(bytes));
      response->set_format(ToProtoFormat(encode.format));
      response->set_width(restored->image.width);
      response->set_height(restored->image.height);
      response->set_tile_count(log.tiles);
      auto* timings = response->mutable_timings();
      timings->set_queue_seconds(result.queue_seconds);
      timings->set_compute_seconds(result.compute_seconds);
      timings->set_total_seconds(Seconds(Clock::now() - call->start()));
      finish(absl::OkStatus());
    };
    if (!shared->unchanged_reason.empty()) {
      batcher_->CancelReservation();
      return deliver(TileJobResult());
    }

    auto job = std::make_unique<TileJob>();
    job->tiles = shared->tiles;
    job->mode = shared->options.mode;
    job->seeds = shared->TileSeeds();
    job->expiry = expiry;
    job->done = [this, finish, deliver](absl::StatusOr<TileJobResult> result) {
      pool_->Post([finish, deliver, result = std::move(result)] {
        if (!result.ok()) return finish(result.status());
        deliver(*result);
      });
    };
    batcher_->Submit(std::move(job));
  });
}

grpc::ServerUnaryReactor* RestorationService::Restore(grpc::CallbackServerContext* context,
                                                      const v1::RestoreRequest* request,
                                                      v1::RestoreResponse* response) {
  auto* call = new UnaryCall();
  Expiry expiry{DeadlineOf(*context), [call] { return call->cancelled(); }};
  RunRestore(*request, response, expiry, "Restore", [call](grpc::Status s) { call->Finish(s); });
  return call;
}

namespace {

// Reads requests as they come, restores them concurrently and writes each
// answer when ready (one write outstanding at a time, as gRPC requires). The
// call ends once the client is done sending and every answer is written.
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
    service_->RunRestore(*request, response.get(), expiry, "RestoreStream",
                         [this, request, response](grpc::Status status) {
                           if (!status.ok()) {
                             auto* error = response->mutable_error();
                             error->set_code(status.error_code());
                             error->set_message(status.error_message());
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

grpc::ServerBidiReactor<v1::RestoreRequest, v1::RestoreResponse>* RestorationService::RestoreStream(
    grpc::CallbackServerContext* context) {
  return new StreamCall(this, context);
}

grpc::ServerUnaryReactor* RestorationService::EstimateQF(grpc::CallbackServerContext* context,
                                                         const v1::EstimateQFRequest* request,
                                                         v1::EstimateQFResponse* response) {
  auto* reactor = new UnaryCall();
  Expiry expiry{DeadlineOf(*context), [reactor] { return reactor->cancelled(); }};
  auto call = std::make_shared<Request>(
      this, "EstimateQF", absl::StrCat("q", next_id_.fetch_add(1)), request->image().size());
  metrics_->bytes_in().Increment(static_cast<double>(request->image().size()));
  auto finish = [call, reactor, response](const absl::Status& status) {
    if (!status.ok()) response->Clear();
    reactor->Finish(call->Done(status));
  };
  if (absl::Status admitted = Admit(call->start(), expiry); !admitted.ok()) {
    finish(admitted);
    return reactor;
  }
  call->set_admitted();

  pool_->Post([this, request, response, expiry, call, finish] {
    auto fail_before_submit = [&](const absl::Status& status) {
      batcher_->CancelReservation();
      finish(status);
    };
    image::ImageLimits limits;
    limits.max_bytes = static_cast<uint64_t>(config_.limits.max_message_bytes);
    limits.max_pixels = static_cast<uint64_t>(config_.limits.max_pixels);
    limits.max_side = config_.limits.max_side;
    auto decoded = image::DecodeImage(request->image(), limits);
    if (!decoded.ok()) return fail_before_submit(decoded.status());
    call->log().pixels = static_cast<int64_t>(decoded->rgb.width) * decoded->rgb.height;
    response->set_width(decoded->rgb.width);
    response->set_height(decoded->rgb.height);
    response->set_format(image::ImageFormatName(decoded->format));
    if (decoded->format == image::ImageFormat::kJpeg) {
      // The decoder already walked the whole file; the header is enough here.
      auto header = image::ParseJpegHeader(request->image(), image::JpegParseMode::kHeaderOnly);
      if (header.ok()) {
        response->set_has_header_qf(header->has_qf);
        response->set_header_qf(header->qf);
        response->set_header_qf_exact(header->qf_exact);
        response->set_header_qf_distance(header->qf_distance);
        response->set_subsampling(header->subsampling);
        response->set_progressive(header->progressive);
      }
    }
    auto shared = std::make_shared<image::DecodedImage>(*std::move(decoded));
    auto task = std::make_unique<ModelTask>();
    task->expiry = expiry;
    task->dropped = finish;
    task->run = [this, shared, response, call, finish](pipeline::Restorer& restorer) {
      const auto t0 = Clock::now();
      auto qf = restorer.EstimateQf(*shared);
      const double compute = Seconds(Clock::now() - t0);
      metrics_->compute_duration().Observe(compute);
      pool_->Post([response, call, finish, qf, compute] {
        if (!qf.ok()) return finish(qf.status());
        response->set_predicted_qf(*qf);
        call->log().qf = *qf;
        call->log().compute_seconds = compute;
        finish(absl::OkStatus());
      });
    };
    batcher_->SubmitTask(std::move(task));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RestorationService::GetModelInfo(grpc::CallbackServerContext* context,
                                                           const v1::GetModelInfoRequest*,
                                                           v1::GetModelInfoResponse* response) {
  auto* reactor = context->DefaultReactor();
  Request call(this, "GetModelInfo", absl::StrCat("i", next_id_.fetch_add(1)), 0);
  if (!ready_.load()) {
    reactor->Finish(call.Done(absl::UnavailableError("the model is still loading")));
    return reactor;
  }
  auto* model = response->mutable_model();
  model->set_preset(facts_.preset);
  model->set_parameters(facts_.parameters);
  model->set_timestep(facts_.timestep);
  model->set_trained(facts_.trained);
  model->set_provenance(facts_.provenance);
  model->set_model_dir(facts_.model_dir);
  model->set_trained_qf_min(facts_.trained_qf_min);
  model->set_trained_qf_max(facts_.trained_qf_max);
  model->set_default_mode(facts_.default_mode == pipeline::RestoreMode::kFidelity ? "fidelity"
                                                                                  : "perceptual");
  for (const SourceFile& source : facts_.sources) {
    v1::SourceFile* out = model->add_sources();
    out->set_role(source.role);
    out->set_path(source.path);
    out->set_sha256(source.sha256);
    out->set_bytes(source.bytes);
  }
  auto* limits = response->mutable_limits();
  limits->set_max_message_bytes(config_.limits.max_message_bytes);
  limits->set_max_pixels(config_.limits.max_pixels);
  limits->set_max_side(config_.limits.max_side);
  limits->set_max_in_flight(config_.limits.max_in_flight);
  auto* batching = response->mutable_batching();
  batching->set_max_batch_size(config_.batching.max_batch_size);
  batching->set_max_queue_delay_seconds(config_.batching.max_queue_delay_ms / 1000.0);
  batching->set_max_queue_size(config_.batching.max_queue_size);
  batching->set_tile_size(facts_.tiles.tile_size);
  batching->set_tile_overlap(facts_.tiles.overlap);
  batching->set_replicas(facts_.replicas);
  for (const auto& d : config_.devices) batching->add_devices(d);
  response->set_server_version(CODIFF_VERSION);
  reactor->Finish(call.Done(absl::OkStatus()));
  return reactor;
}

}  // namespace codiff::server
