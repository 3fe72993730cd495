// The restoration pipeline: decoded image -> tiles -> CODiff -> blended,
// colour-fixed image in the mode the user sent.
//
// Design decisions:
// - Every tile is conditioned on its OWN CaVE tokens. The reference conditions
//   every tile on the whole image's tokens; per-tile context keeps every tile
//   the same shape, so tiles of different requests can share one batch (see
//   PreparedImage / RunTiles), and CaVE's cost stays proportional to the tile
//   area instead of re-encoding the whole image.
// - Images smaller than one tile are reflect-padded up to a bucket (see
//   tile_plan.h), so every tile of every request has one of a few fixed
//   square shapes, which keeps batches shareable and caches warm.
// - Default tile sizes per preset: see DefaultTileConfig().
// - Perceptual mode: Condition + one-step Generate on the tile batch, output
//   (y + 1) / 2. Fidelity mode: CaVE's restoring decoder, clamped to [0, 1].
// - Without a seed the VAE posterior mean is used (deterministic); with one,
//   tile i of a request draws its noise from a CPU generator seeded with
//   seed + i, so a result does not depend on how tiles were batched or on the
//   device.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/image/image.h"
#include "core/image/image_decoder.h"
#include "core/models/model_architecture.h"
#include "core/models/one_step_generator.h"
#include "core/pipeline/color_fix.h"
#include "core/pipeline/reference_inference.h"
#include "core/pipeline/tile_plan.h"

namespace codiff::pipeline {

enum class RestoreMode {
  kPerceptual,  // one-step diffusion
  kFidelity,    // CaVE's restoring decoder
};

struct RestoreOptions {
  RestoreMode mode = RestoreMode::kPerceptual;
  // Unset: the mode's default (DefaultColorFix).
  std::optional<ColorFix> color_fix;
  std::optional<uint64_t> seed;
  int tile_size = 0;  // 0 = the restorer's default
  // Last step, for JPEG sources that carry their luma table
  // (DecodedImage::jpeg_luma_table): ProjectLumaOntoJpeg, which can only bring
  // the luma closer to the original.
  bool jpeg_consistency = true;
  // Restore JPEGs whose quality is above RestorerConfig::max_jpeg_quality
  // too, instead of returning them as decoded.
  bool restore_high_quality_jpeg = false;
};

// Perceptual: AdaIN, which undoes the colour drift of a diffusion decoder (as
// the reference does). Fidelity: none; CaVE's output is an MSE regression to
// the clean image, and re-imposing the JPEG's per-channel statistics pulls it
// back towards the JPEG (measured on the 23 validation images, previous
// default model: +0.06 / +0.04 / +0.01 dB PSNR at QF 5 / 10 / 30 without it).
ColorFix DefaultColorFix(RestoreMode mode);

// How a perceptual restore covers an image.
enum class InferenceStrategy {
  kAuto,  // kReference for the sd21 preset, kPerTile otherwise
  // Pixel tiles, each conditioned on its own CaVE tokens and run through the
  // whole generator: every tile of every request has the same shape, so tiles
  // of different requests share batches (the small preset's default).
  kPerTile,
  // The reference's inference (reference_inference.h): whole-image CaVE
  // context, UNet tiled in latent space, VAE whole or tiled by memory. What a
  // user comparing with the paper's code gets; sd21's default.
  kReference,
};
absl::StatusOr<InferenceStrategy> ParseInferenceStrategy(const std::string& name);
const char* InferenceStrategyName(InferenceStrategy strategy);

struct RestorerConfig {
  torch::Device device = torch::kCPU;
  InferenceStrategy strategy = InferenceStrategy::kAuto;
  // kReference: latent tiles and the VAE's memory limit.
  LatentTiling latent_tiling;
  VaeTiling vae_tiling;
  // kReference runs CaVE on the whole image, whose full-resolution
  // activations grow with it (64 channels: 1 GB per tensor at 4 MP). Larger
  // images take the per-tile strategy, whose memory is bounded by the tile.
  int64_t reference_max_pixels = int64_t{2048} * 2048;
  // tile_size 0 = the default for the model's preset (DefaultTileConfig).
  TileConfig tiles{0, 0};
  int max_batch_tiles = 4;
  // JPEGs whose quantisation tables say a higher quality than this are
  // returned as decoded (0 = restore every image): a model trained on QF up to
  // 95 adds noise of its own to a near-lossless file (the bundled model lost
  // 1.2 dB at QF 98). FromModelFolder takes the folder's trained maximum when
  // this is 0.
  int max_jpeg_quality = 0;
  // Bytes this replica may use above its weights while it computes (0: no
  // bound, the limits above as given). The constructor lowers
  // reference_max_pixels, the VAE's untiled size and tile, and
  // max_batch_tiles so that its largest model call fits (working_memory.h).
  int64_t working_memory_bytes = 0;
  // Called with the model's input before every model call (tests: throwing
  // here stands in for an allocation failure on the device).
  std::function<void(const torch::Tensor&)> before_model_call;
};

struct RestoreResult {
  image::Image image;           // same size and mode as the input (grey / RGB / RGBA)
  models::StageSeconds stages;  // where the compute went
  float predicted_qf = 0;       // CaVE's QF estimate, JPEG 0-100 scale, averaged over tiles
  int tile_count = 0;
  double compute_seconds = 0;
  // Non-empty when the image was returned as decoded, and why.
  std::string unchanged_reason;
};

// A request split into tile work, so a server can batch tiles from many
// requests.
struct PreparedImage {
  // kReference perceptual restores: one "tile", the whole image padded to a
  // multiple of 32 (plan.tiles has one entry; the blender is not used).
  bool whole_image = false;
  TilePlan plan;
  torch::Tensor tiles;   // [N, 3, T, T] in [0, 1], float32, CPU
  torch::Tensor source;  // [1, 3, H, W] in [0, 1], float32, CPU
  image::DecodedImage decoded;
  RestoreOptions options;
  // Non-empty: the image goes back as decoded (see max_jpeg_quality); there
  // are no tiles to run and Finish takes an undefined tensor.
  std::string unchanged_reason;

  // Per-tile seeds for RunTiles: seed + tile index, or all nullopt.
  std::vector<std::optional<uint64_t>> TileSeeds() const;
};

// Tile size / overlap per preset: tiny 64/16, small 1024/64, sd21 512/128
// (anything else: 512/64).
TileConfig DefaultTileConfig(const models::ModelArchitecture& arch);

// The tile config a request runs with: its own tile size (with the default
// overlap, shrunk to a quarter tile so small tiles stay valid) or the default.
TileConfig EffectiveTiles(const TileConfig& defaults, const RestoreOptions& options);

// InvalidArgument unless tile_size is a multiple of 32 and >= 64, and
// 0 <= overlap < tile_size / 2.
absl::Status ValidateTileConfig(const TileConfig& config);

class Restorer {
 public:
  // Holds the generator for inference only (eval mode, no grad). It changes
  // the generator in place: CaVE's BatchNorms are folded into its
  // convolutions and, on CPU, 4-D weights become channels-last, so a
  // generator shared with the caller must not be trained or saved afterwards.
  // Thread-compatible: one thread calls Run*/Restore/EstimateQf at a time;
  // Prepare and Finish are const and may run concurrently with them.
  Restorer(models::OneStepGenerator generator, RestorerConfig config);

  static absl::StatusOr<std::unique_ptr<Restorer>> FromModelFolder(const std::string& dir,
                                                                   RestorerConfig config);

  // Cheap, no model compute: validates options, plans and cuts the tiles.
  absl::StatusOr<PreparedImage> Prepare(const image::DecodedImage& decoded,
                                        const RestoreOptions& options) const;

  // Runs a batch of same-shape tiles [N, 3, T, T] in [0, 1] (tiles may come
  // from different requests) in one mode; one seed per tile (nullopt = the
  // posterior mean; ignored in fidelity mode). Returns [N, 3, T, T] in [0, 1]
  // on the CPU. If qf_out is given it receives the [N] QF estimates (0-100).
  // With the kReference strategy, perceptual "tiles" are whole images (see
  // PreparedImage::whole_image), each run by RunReferenceInference.
  absl::StatusOr<torch::Tensor> RunTiles(const torch::Tensor& tiles, RestoreMode mode,
                                         const std::vector<std::optional<uint64_t>>& seeds,
                                         torch::Tensor* qf_out = nullptr,
                                         models::StageSeconds* stages = nullptr);

  // Blends tile outputs [N, 3, T, T], colour-fixes against the source and
  // returns the image in the input's mode. predicted_qf / compute_seconds
  // are left for the caller (Restore fills them).
  absl::StatusOr<RestoreResult> Finish(const PreparedImage& prepared,
                                       const torch::Tensor& tile_outputs) const;

  // The strategy in effect (kAuto resolved for this model).
  InferenceStrategy strategy() const { return config_.strategy; }

  // Prepare + RunTiles in chunks of max_batch_tiles + Finish.
  absl::StatusOr<RestoreResult> Restore(const image::DecodedImage& decoded,
                                        const RestoreOptions& options);

  // CaVE's QF head averaged over the image's tiles, on the JPEG 0-100 scale.
  absl::StatusOr<float> EstimateQf(const image::DecodedImage& decoded);

  const TileConfig& default_tiles() const { return config_.tiles; }
  const models::ModelArchitecture& architecture() const { return generator_->architecture(); }
  const RestorerConfig& config() const { return config_; }
  // Estimated bytes above the weights of the largest model call this
  // restorer makes, under its (possibly lowered) limits.
  int64_t PeakWorkingBytes() const;

 private:
  void FitWorkingMemory();
  models::OneStepGenerator generator_;
  RestorerConfig config_;
};

}  // namespace codiff::pipeline
