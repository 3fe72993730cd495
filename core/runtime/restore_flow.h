// One restore from encoded bytes to encoded bytes, without gRPC: admission
// by cost (from the image header alone, before anything is decoded), then
// on the work pool decode -> prepare -> tiles to the batcher -> blend,
// colour fix, JPEG projection -> encode. The server translates protos and
// counts calls; everything about the work itself is here.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image_encoder.h"
#include "core/image/image_limits.h"
#include "core/image/image_output.h"
#include "core/image/image_probe.h"
#include "core/image/jpeg_header.h"
#include "core/pipeline/restorer.h"
#include "core/runtime/request_cost.h"
#include "core/runtime/tile_batcher.h"

namespace codiff::runtime {

struct FlowConfig {
  image::ImageLimits image_limits;
  // Bytes that admitted requests may hold at once (images, tiles, outputs);
  // 0: no memory budget (only the batcher's queue slots bound admission).
  int64_t memory_budget_bytes = 0;
  // Largest tile_size a request may ask for; 0: the model's default size.
  int max_tile_size = 0;
};

// One restore as the flow sees it. `image` must stay valid until `done`.
struct RestoreInput {
  std::string_view image;
  pipeline::RestoreOptions options;
  image::EncodeOptions encode;
  image::OutputOptions output;  // metadata and colour of the output file
  Expiry expiry;
};

struct RestoreOutput {
  std::string image;
  image::ImageFormat format = image::ImageFormat::kPng;
  int width = 0;
  int height = 0;
  int tiles = 0;
  int64_t pixels = 0;
  bool has_qf = false;
  float predicted_qf = 0;
  std::string unchanged_reason;  // non-empty: returned as decoded
  // The mode that ran, and why it is not the one asked for (non-empty only
  // then): a perceptual request on a model whose generator is inert runs the
  // fidelity path (SetPerceptualInert).
  pipeline::RestoreMode mode_run = pipeline::RestoreMode::kPerceptual;
  std::string mode_note;
  double queue_seconds = 0;
  double compute_seconds = 0;
  double finish_seconds = 0;  // colour fix + JPEG projection
  models::StageSeconds stages;
  // The ICC profile the output is tagged with ("" = untagged sRGB), and what
  // happened to the input's colour and metadata on the way (dropped blocks,
  // conversions), one line each.
  std::string color_profile;
  std::vector<std::string> notes;
};

struct QfOutput {
  int width = 0;
  int height = 0;
  image::ImageFormat format = image::ImageFormat::kUnknown;
  float predicted_qf = 0;
  double compute_seconds = 0;
  int64_t pixels = 0;
  // The input's embedded colour profile ("" when none).
  std::string color_profile;
  // A JPEG's parsed header (quality, subsampling, progressive, ...), from
  // admission's parse; null for other formats.
  std::shared_ptr<const image::JpegHeaderInfo> jpeg_header;
};

// What an admitted request holds (memory budget, compute queue, batcher
// slot) until it is destroyed.
class Admission;

class RestoreFlow {
 public:
  using Post = std::function<void(std::function<void()>)>;
  // `post` runs CPU work off the caller's thread (the server's work pool).
  RestoreFlow(FlowConfig config, TileBatcher* batcher, Post post);
  ~RestoreFlow();

  // The model is loaded; `preparer` (a replica's restorer) is used only for
  // its const, thread-safe Prepare/Finish.
  void SetPreparer(const pipeline::Restorer* preparer);
  // The served model's generator adds nothing measurable (model.yaml
  // `perceptual: inert`): perceptual requests run the fidelity path, with
  // the mode's default colour fix unless the request names one, and their
  // output says so (RestoreOutput::mode_note). Set before serving.
  void SetPerceptualInert(bool inert) { perceptual_inert_ = inert; }

  // On the caller's thread, cheap: reads the image header, checks limits and
  // the request's cost against the budgets, takes a batcher queue slot.
  // InvalidArgument for bad input, ResourceExhausted (saying what to retry)
  // when the server cannot take it now.
  absl::StatusOr<std::shared_ptr<Admission>> AdmitRestore(const RestoreInput& input,
                                                          Clock::time_point now);
  absl::StatusOr<std::shared_ptr<Admission>> AdmitEstimate(std::string_view image,
                                                           const Expiry& expiry,
                                                           Clock::time_point now);

  // `done` runs exactly once, on a work-pool thread.
  void RunRestore(std::shared_ptr<Admission> admission, const RestoreInput& input,
                  std::function<void(absl::StatusOr<RestoreOutput>)> done);
  void RunEstimate(std::shared_ptr<Admission> admission, std::string_view image,
                   const Expiry& expiry, std::function<void(absl::StatusOr<QfOutput>)> done);

 private:
  // The encoded size, then the header's dimensions against the image limits.
  absl::StatusOr<image::ImageInfo> ProbeWithinLimits(std::string_view image) const;
  absl::StatusOr<std::shared_ptr<Admission>> Admit(const RequestCost& cost, const Expiry& expiry,
                                                   Clock::time_point now);

  FlowConfig config_;
  TileBatcher* batcher_;
  Post post_;
  const pipeline::Restorer* preparer_ = nullptr;
  bool perceptual_inert_ = false;
  SharedBudget memory_;
  std::atomic<int64_t> queued_pixels_{0};  // admitted, not yet computed
  ThroughputEstimate throughput_;
  friend class Admission;
};

}  // namespace codiff::runtime
