#include "server/proto_translation.h"

namespace codiff::server {

namespace v1 = ::codiff::v1;

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

absl::StatusOr<image::OutputOptions> ToOutputOptions(const v1::RestoreOptions& o) {
  image::OutputOptions out;
  switch (o.metadata()) {
    case v1::METADATA_POLICY_UNSPECIFIED:
    case v1::METADATA_POLICY_STRIP:
      out.metadata = image::MetadataPolicy::kStrip;
      break;
    case v1::METADATA_POLICY_KEEP:
      out.metadata = image::MetadataPolicy::kKeep;
      break;
    default:
      return absl::InvalidArgumentError("unknown metadata policy");
  }
  switch (o.output_color()) {
    case v1::OUTPUT_COLOR_UNSPECIFIED:
    case v1::OUTPUT_COLOR_KEEP_PROFILE:
      out.srgb = false;
      break;
    case v1::OUTPUT_COLOR_SRGB:
      out.srgb = true;
      break;
    default:
      return absl::InvalidArgumentError("unknown output_color");
  }
  return out;
}

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

namespace {

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

}  // namespace

void FillRestoreResponse(const runtime::RestoreOutput& output, double total_seconds,
                         v1::RestoreResponse* response) {
  if (!output.unchanged_reason.empty()) {
    response->set_unchanged_reason(output.unchanged_reason);
  } else {
    response->set_predicted_qf(output.predicted_qf);
  }
  response->set_image(output.image);
  response->set_format(ToProtoFormat(output.format));
  response->set_width(output.width);
  response->set_height(output.height);
  response->set_tile_count(output.tiles);
  response->set_mode_run(output.mode_run == pipeline::RestoreMode::kFidelity
                             ? v1::RESTORE_MODE_FIDELITY
                             : v1::RESTORE_MODE_PERCEPTUAL);
  if (!output.mode_note.empty()) response->set_mode_note(output.mode_note);
  response->set_color_profile(output.color_profile);
  for (const std::string& note : output.notes) response->add_notes(note);
  auto* timings = response->mutable_timings();
  timings->set_queue_seconds(output.queue_seconds);
  timings->set_compute_seconds(output.compute_seconds);
  timings->set_total_seconds(total_seconds);
}

void FillModelInfo(const ModelFacts& facts, const ServerConfig& config,
                   v1::GetModelInfoResponse* response) {
  auto* model = response->mutable_model();
  model->set_preset(facts.preset);
  model->set_parameters(facts.parameters);
  model->set_timestep(facts.timestep);
  model->set_trained(facts.trained);
  model->set_provenance(facts.provenance);
  model->set_model_dir(facts.model_dir);
  model->set_trained_qf_min(facts.trained_qf_min);
  model->set_trained_qf_max(facts.trained_qf_max);
  model->set_default_mode(facts.default_mode == pipeline::RestoreMode::kFidelity ? "fidelity"
                                                                                 : "perceptual");
  model->set_perceptual_inert(facts.perceptual_inert);
  for (const SourceFile& source : facts.sources) {
    v1::SourceFile* out = model->add_sources();
    out->set_role(source.role);
    out->set_path(source.path);
    out->set_sha256(source.sha256);
    out->set_bytes(source.bytes);
  }
  auto* limits = response->mutable_limits();
  limits->set_max_message_bytes(config.limits.max_message_bytes);
  limits->set_max_pixels(config.limits.max_pixels);
  limits->set_max_side(config.limits.max_side);
  limits->set_max_in_flight(config.limits.max_in_flight);
  auto* batching = response->mutable_batching();
  batching->set_max_batch_size(config.batching.max_batch_size);
  batching->set_max_queue_delay_seconds(config.batching.max_queue_delay_ms / 1000.0);
  batching->set_max_queue_size(config.batching.max_queue_size);
  batching->set_tile_size(facts.tiles.tile_size);
  batching->set_tile_overlap(facts.tiles.overlap);
  batching->set_replicas(facts.replicas);
  for (const auto& d : config.devices) batching->add_devices(d);
  batching->set_dtype(config.dtype);
  for (const auto& m : facts.compute_memory) batching->add_compute_memory(m);
}

}  // namespace codiff::server
