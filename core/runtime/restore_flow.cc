#include "core/runtime/restore_flow.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/image/image_decoder.h"
#include "core/image/image_probe.h"
#include "core/util/status_macros.h"

namespace codiff::runtime {
namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Megabytes(int64_t bytes) { return absl::StrFormat("%.0f MB", bytes / 1e6); }

// EstimateQF holds the decoded image and its float copy, not tiles.
constexpr int64_t kEstimateBytesPerPixel = 16;

constexpr char kInertPerceptualNote[] =
    "perceptual requested; this model's generator is inert (model.yaml perceptual: inert: it "
    "adds nothing measurable over CaVE's restoration), so the fidelity path ran";

}  // namespace

class Admission {
 public:
  Admission(RestoreFlow* flow, RequestCost cost) : flow_(flow), cost_(cost) {}
  ~Admission() {
    Computed();
    flow_->memory_.Release(cost_.memory_bytes);
    if (reserved_) flow_->batcher_->CancelReservation();
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  const RequestCost& cost() const { return cost_; }
  // What admission read from the image header (a JPEG's full parse): the
  // decoder and EstimateQF use it instead of parsing the file again.
  const image::ImageInfo& info() const { return info_; }
  void set_info(image::ImageInfo info) { info_ = std::move(info); }
  // The batcher took over the queue slot.
  void Submitted() { reserved_ = false; }
  // The model is done with it (or never will be): no longer queued compute.
  void Computed() {
    if (!computed_) flow_->queued_pixels_.fetch_sub(cost_.padded_pixels);
    computed_ = true;
  }

 private:
  RestoreFlow* flow_;
  RequestCost cost_;
  image::ImageInfo info_;
  bool reserved_ = true;
  bool computed_ = false;
};

RestoreFlow::RestoreFlow(FlowConfig config, TileBatcher* batcher, Post post)
    : config_(config),
      batcher_(batcher),
      post_(std::move(post)),
      memory_(config.memory_budget_bytes > 0 ? config.memory_budget_bytes
                                             : std::numeric_limits<int64_t>::max()) {}

RestoreFlow::~RestoreFlow() = default;

void RestoreFlow::SetPreparer(const pipeline::Restorer* preparer) { preparer_ = preparer; }

absl::StatusOr<std::shared_ptr<Admission>> RestoreFlow::Admit(const RequestCost& cost,
                                                              const Expiry& expiry,
                                                              Clock::time_point now) {
  if (cost.memory_bytes > memory_.limit()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this image needs about ", Megabytes(cost.memory_bytes),
        " while restored, more than this server's whole budget (", Megabytes(memory_.limit()),
        "); send a smaller image or raise max_memory_bytes"));
  }
  if (expiry.deadline != Clock::time_point::max()) {
    // Only the work ahead of it: a request that could start in time may
    // still finish some tiles, and is dropped between them if it runs late.
    const double wait = throughput_.SecondsFor(queued_pixels_.load());
    const double left = Seconds(expiry.deadline - now);
    if (wait > left) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the queued work needs about %.1f s at the recent rate, more than the %.1f s left "
          "before the deadline; retry later or with a longer deadline",
          wait, left));
    }
  }
  if (!memory_.Acquire(cost.memory_bytes)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the server's memory budget is in use (", Megabytes(memory_.used()), " of ",
                     Megabytes(memory_.limit()), " held; this image needs ",
                     Megabytes(cost.memory_bytes), "); retry with backoff"));
  }
  if (!batcher_->TryReserve()) {
    memory_.Release(cost.memory_bytes);
    return absl::ResourceExhaustedError(absl::StrCat("the queue is full (",
                                                     batcher_->options().max_queue_size,
                                                     " requests waiting); retry with backoff"));
  }
  queued_pixels_.fetch_add(cost.padded_pixels);
  return std::make_shared<Admission>(this, cost);
}

absl::StatusOr<image::ImageInfo> RestoreFlow::ProbeWithinLimits(std::string_view image) const {
  if (image.size() > config_.image_limits.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("the image is ", image.size(),
                                                     " bytes; at most ",
                                                     config_.image_limits.max_bytes, " allowed"));
  }
  // The full parse (structure and truncation as well as the header), once:
  // it travels with the admission to the decoder.
  auto info = image::ProbeImage(image, image::JpegParseMode::kFull);
  if (!info.ok()) return info.status();
  RETURN_IF_ERROR(image::CheckImageLimits(info->width, info->height, config_.image_limits));
  return info;
}

absl::StatusOr<std::shared_ptr<Admission>> RestoreFlow::AdmitRestore(const RestoreInput& input,
                                                                     Clock::time_point now) {
  if (absl::Status expired = input.expiry.Check(now); !expired.ok()) return expired;
  const pipeline::TileConfig defaults = preparer_->default_tiles();
  const int max_tile = config_.max_tile_size > 0 ? config_.max_tile_size : defaults.tile_size;
  if (input.options.tile_size > max_tile) {
    return absl::InvalidArgumentError(absl::StrCat("tile_size ", input.options.tile_size,
                                                   " is above this server's limit of ", max_tile,
                                                   " (max_tile_size)"));
  }
  auto info = ProbeWithinLimits(input.image);
  if (!info.ok()) return info.status();
  auto cost = EstimateRestoreCost(info->width, info->height,
                                  pipeline::EffectiveTiles(defaults, input.options),
                                  static_cast<int64_t>(input.image.size()));
  if (!cost.ok()) return cost.status();
  auto admission = Admit(*cost, input.expiry, now);
  if (admission.ok()) (*admission)->set_info(*std::move(info));
  return admission;
}

absl::StatusOr<std::shared_ptr<Admission>> RestoreFlow::AdmitEstimate(std::string_view image,
                                                                      const Expiry& expiry,
                                                                      Clock::time_point now) {
  if (absl::Status expired = expiry.Check(now); !expired.ok()) return expired;
  auto info = ProbeWithinLimits(image);
  if (!info.ok()) return info.status();
  RequestCost cost;
  cost.pixels = static_cast<int64_t>(info->width) * info->height;
  cost.padded_pixels = cost.pixels;
  cost.memory_bytes = cost.pixels * kEstimateBytesPerPixel + static_cast<int64_t>(image.size());
  auto admission = Admit(cost, expiry, now);
  if (admission.ok()) (*admission)->set_info(*std::move(info));
  return admission;
}

void RestoreFlow::RunRestore(std::shared_ptr<Admission> admission, const RestoreInput& input,
                             std::function<void(absl::StatusOr<RestoreOutput>)> done) {
  post_([this, admission, &input, done] {
    if (absl::Status expired = input.expiry.Check(Clock::now()); !expired.ok()) {
      return done(expired);
    }
    auto decoded = image::DecodeImage(input.image, config_.image_limits, &admission->info());
    if (!decoded.ok()) return done(decoded.status());
    const int64_t pixels = static_cast<int64_t>(decoded->rgb.width) * decoded->rgb.height;
    pipeline::RestoreOptions options = input.options;
    std::string mode_note;
    if (perceptual_inert_ && options.mode == pipeline::RestoreMode::kPerceptual) {
      options.mode = pipeline::RestoreMode::kFidelity;
      mode_note = std::string(kInertPerceptualNote);
    }
    auto prepared = preparer_->Prepare(*decoded, options);
    if (!prepared.ok()) return done(prepared.status());
    auto shared = std::make_shared<pipeline::PreparedImage>(*std::move(prepared));
    auto metadata = std::make_shared<const image::ImageMetadata>(std::move(decoded->metadata));
    const image::EncodeOptions encode = input.encode;
    const image::OutputOptions output = input.output;
    // Blends the tiles (or takes the decoded image, when it goes back
    // unchanged), encodes and answers: CPU work, off the inference thread.
    auto deliver = [this, admission, shared, metadata, encode, output, pixels, mode_note,
                    done](const TileJobResult& result) {
      const bool unchanged = !shared->unchanged_reason.empty();
      RestoreOutput out;
      out.mode_run = shared->options.mode;
      out.mode_note = mode_note;
      out.pixels = pixels;
      out.queue_seconds = result.queue_seconds;
      out.compute_seconds = result.compute_seconds;
      out.stages = result.stages;
      out.tiles = unchanged ? 0 : static_cast<int>(shared->tiles.size(0));
      out.has_qf = !unchanged;
      out.predicted_qf = result.mean_qf;
      auto restored = preparer_->Finish(*shared, result.outputs);
      if (!restored.ok()) return done(restored.status());
      out.finish_seconds = restored->stages.color_fix + restored->stages.jpeg_projection;
      out.unchanged_reason = restored->unchanged_reason;
      auto file = image::EncodeOutput(restored->image, encode, *metadata, output);
      if (!file.ok()) return done(file.status());
      out.image = std::move(file->bytes);
      out.color_profile = std::move(file->color_profile);
      out.notes = std::move(file->notes);
      out.format = encode.format;
      out.width = restored->image.width;
      out.height = restored->image.height;
      done(std::move(out));
    };
    if (!shared->unchanged_reason.empty()) {
      admission->Computed();
      return deliver(TileJobResult());
    }
    auto job = std::make_unique<TileJob>();
    job->tiles = shared->tiles;
    job->mode = shared->options.mode;
    job->seeds = shared->TileSeeds();
    job->expiry = input.expiry;
    job->done = [this, admission, done, deliver](absl::StatusOr<TileJobResult> result) {
      admission->Computed();
      if (result.ok()) {
        throughput_.Record(admission->cost().padded_pixels, result->compute_seconds);
      }
      post_([done, deliver, result = std::move(result)] {
        if (!result.ok()) return done(result.status());
        deliver(*result);
      });
    };
    admission->Submitted();
    batcher_->Submit(std::move(job));
  });
}

void RestoreFlow::RunEstimate(std::shared_ptr<Admission> admission, std::string_view image,
                              const Expiry& expiry,
                              std::function<void(absl::StatusOr<QfOutput>)> done) {
  post_([this, admission, image, expiry, done] {
    auto decoded = image::DecodeImage(image, config_.image_limits, &admission->info());
    if (!decoded.ok()) return done(decoded.status());
    auto shared = std::make_shared<image::DecodedImage>(*std::move(decoded));
    auto task = std::make_unique<ModelTask>();
    task->expiry = expiry;
    task->dropped = [admission, done](absl::Status why) { done(why); };
    task->run = [this, admission, shared, done](pipeline::Restorer& restorer) {
      const auto t0 = Clock::now();
      auto qf = restorer.EstimateQf(*shared);
      QfOutput out;
      out.compute_seconds = Seconds(Clock::now() - t0);
      admission->Computed();
      out.width = shared->rgb.width;
      out.height = shared->rgb.height;
      out.format = shared->format;
      out.pixels = static_cast<int64_t>(out.width) * out.height;
      if (qf.ok()) out.predicted_qf = *qf;
      out.color_profile = image::ColorProfileName(*shared);
      out.jpeg_header = admission->info().jpeg;
      post_([done, qf_status = qf.status(), out] {
        if (!qf_status.ok()) return done(qf_status);
        done(out);
      });
    };
    admission->Submitted();
    batcher_->SubmitTask(std::move(task));
  });
}

}  // namespace codiff::runtime
