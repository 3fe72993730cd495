#include "core/pipeline/restorer.h"

#include <cmath>

#include "core/pipeline/working_memory.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/pipeline/image_tensor.h"
#include "core/pipeline/jpeg_consistency.h"
#include "core/pipeline/tile_blender.h"
#include "core/util/channels_last.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/model_folder.h"

namespace codiff::pipeline {
namespace {

// The VAE's downsampling factor (8 for SD's, 4 for the small preset's): the
// sides its encoder and decoder give back unchanged.
int64_t VaeMultiple(const models::ModelArchitecture& arch) {
  const size_t levels = arch.vae.block_out_channels.size();
  return int64_t{1} << (levels == 0 ? 0 : levels - 1);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

absl::Status CheckDecoded(const image::DecodedImage& decoded) {
  const image::Image& rgb = decoded.rgb;
  if (rgb.channels != 3 || rgb.width <= 0 || rgb.height <= 0 ||
      rgb.data.size() != static_cast<size_t>(rgb.width) * rgb.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat("expected a decoded 3-channel image, got ",
                                                   rgb.width, "x", rgb.height, "x", rgb.channels));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::optional<uint64_t>> PreparedImage::TileSeeds() const {
  std::vector<std::optional<uint64_t>> seeds(plan.tiles.size());
  if (options.seed) {
    for (size_t i = 0; i < seeds.size(); ++i) seeds[i] = *options.seed + i;
  }
  return seeds;
}

TileConfig EffectiveTiles(const TileConfig& defaults, const RestoreOptions& options) {
  if (options.tile_size == 0) return defaults;
  return {options.tile_size, std::min(defaults.overlap, options.tile_size / 4)};
}

absl::StatusOr<InferenceStrategy> ParseInferenceStrategy(const std::string& name) {
  if (name == "auto" || name.empty()) return InferenceStrategy::kAuto;
  if (name == "per_tile") return InferenceStrategy::kPerTile;
  if (name == "reference") return InferenceStrategy::kReference;
  return absl::InvalidArgumentError(
      absl::StrCat("strategy must be auto, per_tile or reference, not '", name, "'"));
}

const char* InferenceStrategyName(InferenceStrategy strategy) {
  switch (strategy) {
    case InferenceStrategy::kAuto:
      return "auto";
    case InferenceStrategy::kPerTile:
      return "per_tile";
    case InferenceStrategy::kReference:
      return "reference";
  }
  return "?";
}

ColorFix DefaultColorFix(RestoreMode mode) {
  return mode == RestoreMode::kFidelity ? ColorFix::kNone : ColorFix::kAdain;
}

TileConfig DefaultTileConfig(const models::ModelArchitecture& arch) {
  if (arch.preset == "tiny") return {64, 16};
  // SD's UNet has a larger receptive field per latent pixel, so it gets a
  // wider overlap to hide the seams.
  if (arch.preset == "sd21") return {512, 128};
  // small: a 1024x1024 photo runs as four 544 tiles, not one 1024 tile.
  // Measured on 2 cores, channels-last: CaVE 4 x 0.41 s vs 1.88 s, generator
  // 4 x 1.07 s vs 5.30 s (the UNet's attention at 1/16 is quadratic in the
  // tile's area, and smaller activations stay in cache); 500x500 is one tile.
  if (arch.preset == "small") return {544, 64};
  return {512, 64};
}

absl::Status ValidateTileConfig(const TileConfig& config) {
  if (config.tile_size < 64 || config.tile_size % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tile_size must be a multiple of 32 and at least 64, got ", config.tile_size));
  }
  if (config.overlap < 0 || config.overlap >= config.tile_size / 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tile overlap must be in [0, ", config.tile_size / 2, "), got ", config.overlap));
  }
  return absl::OkStatus();
}

Restorer::Restorer(models::OneStepGenerator generator, RestorerConfig config)
    : generator_(std::move(generator)), config_(std::move(config)) {
  generator_->eval();
  generator_->to(config_.device);
  for (auto& parameter : generator_->parameters()) parameter.set_requires_grad(false);
  // Inference only from here on: one pass over the activations fewer per
  // CaVE block.
  generator_->cave()->FoldBatchNorm();
  // oneDNN's convolutions run channels-last on CPU; measured on 2 cores at
  // 1024x1024 (small preset): CaVE 2.52 s -> 1.88 s, generator 6.57 s ->
  // 5.30 s. cuDNN's tensor-core kernels for half precision are NHWC too.
  MakeConvWeightsChannelsLast(*generator_);
  if (config_.device.is_cuda()) {
    // Tile shapes repeat (fixed tiles, the reference's 96-latent tiles), so
    // cuDNN's per-shape search pays for itself after the first batch.
    at::globalContext().setBenchmarkCuDNN(true);
  }
  if (config_.tiles.tile_size == 0) config_.tiles = DefaultTileConfig(generator_->architecture());
  if (config_.strategy == InferenceStrategy::kAuto) {
    config_.strategy = generator_->architecture().preset == "sd21" ? InferenceStrategy::kReference
                                                                   : InferenceStrategy::kPerTile;
  }
  config_.max_batch_tiles = std::max(1, config_.max_batch_tiles);
  if (config_.working_memory_bytes > 0) FitWorkingMemory();
}

void Restorer::FitWorkingMemory() {
  const WorkingMemoryModel model = WorkingMemoryOf(generator_->architecture());
  const int64_t fits = MaxPixelsWithin(model, config_.working_memory_bytes);
  const int64_t tile_pixels =
      static_cast<int64_t>(config_.tiles.tile_size) * config_.tiles.tile_size;
  // Never below one tile: a budget that small is refused at start-up by the
  // server (PeakWorkingBytes exceeds it), not silently ignored.
  config_.max_batch_tiles = static_cast<int>(
      std::clamp<int64_t>(fits / std::max<int64_t>(tile_pixels, 1), 1, config_.max_batch_tiles));
  if (config_.strategy != InferenceStrategy::kReference) return;
  config_.reference_max_pixels = std::min(config_.reference_max_pixels, fits);
  VaeTiling& vae = config_.vae_tiling;
  vae.max_untiled_pixels = std::max<int64_t>(1, std::min(vae.max_untiled_pixels, fits));
  // VAE tiles: multiples of 64 whose area fits, at least 128 (the overlap
  // must stay under half a tile).
  const int64_t side = static_cast<int64_t>(std::sqrt(static_cast<double>(fits))) / 64 * 64;
  vae.tile = std::clamp<int64_t>(side, 128, vae.tile);
}

int64_t Restorer::PeakWorkingBytes() const {
  const WorkingMemoryModel model = WorkingMemoryOf(generator_->architecture());
  const int64_t tile_pixels =
      static_cast<int64_t>(config_.tiles.tile_size) * config_.tiles.tile_size;
  int64_t pixels = config_.max_batch_tiles * tile_pixels;
  if (config_.strategy == InferenceStrategy::kReference) {
    const VaeTiling& vae = config_.vae_tiling;
    pixels = std::max({pixels, config_.reference_max_pixels, vae.tile * vae.tile});
  }
  return WorkingBytesFor(model, pixels);
}

absl::StatusOr<std::unique_ptr<Restorer>> Restorer::FromModelFolder(const std::string& dir,
                                                                    RestorerConfig config) {
  ModelLoadOptions load;
  load.device = config.device;
  ASSIGN_OR_RETURN(LoadedModel loaded, LoadModelFolder(dir, load));
  if (config.max_jpeg_quality == 0) config.max_jpeg_quality = loaded.provenance.trained_qf_max;
  return std::make_unique<Restorer>(std::move(loaded.generator), std::move(config));
}

absl::StatusOr<PreparedImage> Restorer::Prepare(const image::DecodedImage& decoded,
                                                const RestoreOptions& options) const {
  RETURN_IF_ERROR(CheckDecoded(decoded));
  if (options.tile_size != 0) {
    RETURN_IF_ERROR(ValidateTileConfig({options.tile_size, 0}));
  }
  const TileConfig tiles = EffectiveTiles(config_.tiles, options);
  RETURN_IF_ERROR(ValidateTileConfig(tiles));
  PreparedImage prepared;
  prepared.decoded = decoded;
  prepared.options = options;
  const int max_quality = config_.max_jpeg_quality;
  if (max_quality > 0 && !options.restore_high_quality_jpeg && decoded.jpeg_quality &&
      *decoded.jpeg_quality > max_quality) {
    prepared.unchanged_reason = absl::StrCat(
        "JPEG quality ", *decoded.jpeg_quality, " (from its quantisation tables) is above ",
        max_quality, ", the highest the model was trained on; returned as decoded");
    return prepared;
  }
  const int64_t pixels = static_cast<int64_t>(decoded.rgb.width) * decoded.rgb.height;
  if (config_.strategy == InferenceStrategy::kReference &&
      options.mode == RestoreMode::kPerceptual && options.tile_size == 0 &&
      pixels <= config_.reference_max_pixels) {
    // The whole image as the reference sees it: CaVE pads for itself (to 8,
    // replicating, as the reference's CaVE does), and the VAE and the UNet get
    // the image's own size, so their latent and the UNet's tile grid are the
    // reference's. Only sides the VAE cannot return unchanged (not multiples
    // of its factor; the reference refuses those) are reflect-padded, and
    // sides under CaVE's stride of 32, which would give it no token.
    const int multiple = static_cast<int>(VaeMultiple(architecture()));
    const int minimum = static_cast<int>(architecture().size_multiple());
    const auto padded = [&](int side) {
      return std::max(minimum, (side + multiple - 1) / multiple * multiple);
    };
    TilePlan& plan = prepared.plan;
    plan.image_width = decoded.rgb.width;
    plan.image_height = decoded.rgb.height;
    plan.padded_width = padded(decoded.rgb.width);
    plan.padded_height = padded(decoded.rgb.height);
    plan.tiles_x = plan.tiles_y = 1;
    plan.tiles = {Tile{0, 0}};
    prepared.whole_image = true;
    RETURN_IF_ERROR(CatchTorchErrors("padding the image", [&] {
      prepared.source = ImageToTensor(decoded.rgb);
      prepared.tiles =
          ReflectPadBottomRight(prepared.source, plan.padded_height - plan.image_height,
                                plan.padded_width - plan.image_width);
    }));
    return prepared;
  }
  ASSIGN_OR_RETURN(prepared.plan, PlanTiles(decoded.rgb.width, decoded.rgb.height, tiles));
  RETURN_IF_ERROR(CatchTorchErrors("cutting tiles", [&] {
    prepared.source = ImageToTensor(decoded.rgb);
    prepared.tiles = ExtractTiles(prepared.source, prepared.plan);
  }));
  return prepared;
}

absl::StatusOr<torch::Tensor> Restorer::RunTiles(const torch::Tensor& tiles, RestoreMode mode,
                                                 const std::vector<std::optional<uint64_t>>& seeds,
                                                 torch::Tensor* qf_out,
                                                 models::StageSeconds* stages) {
  // Whole images on the reference path need only the VAE's multiple.
  const int64_t multiple =
      mode == RestoreMode::kPerceptual && config_.strategy == InferenceStrategy::kReference
          ? VaeMultiple(architecture())
          : architecture().size_multiple();
  if (!tiles.defined() || tiles.dim() != 4 || tiles.size(1) != 3 || tiles.size(0) == 0 ||
      tiles.size(2) % multiple != 0 || tiles.size(3) % multiple != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RunTiles: expected [N > 0, 3, H, W] tiles with H and W multiples of ", multiple));
  }
  if (seeds.size() != static_cast<size_t>(tiles.size(0))) {
    return absl::InvalidArgumentError(
        absl::StrCat("RunTiles: ", tiles.size(0), " tiles but ", seeds.size(), " seeds"));
  }
  return CatchTorchErrors("running the model", [&] {
    c10::InferenceMode inference;
    const torch::Tensor reference = generator_->parameters().front();
    torch::Tensor x = tiles.to(reference.device(), reference.scalar_type())
                          .contiguous(torch::MemoryFormat::ChannelsLast);
    if (config_.before_model_call) config_.before_model_call(x);
    torch::Tensor out;
    torch::Tensor qf_raw;
    models::StageSeconds local;
    models::StageSeconds& seconds = stages != nullptr ? *stages : local;
    if (mode == RestoreMode::kFidelity) {
      models::StageTimer timer(&seconds.cave);
      auto [restored, qf] = generator_->cave()->forward(x);
      out = restored.clamp(0.0, 1.0);
      qf_raw = qf;
    } else if (config_.strategy == InferenceStrategy::kReference) {
      std::vector<torch::Tensor> outs, qfs;
      for (int64_t i = 0; i < x.size(0); ++i) {
        ReferenceOptions options;
        options.latent = config_.latent_tiling;
        options.vae = config_.vae_tiling;
        if (seeds[static_cast<size_t>(i)])
          options.generate.posterior_seeds = {seeds[static_cast<size_t>(i)]};
        torch::Tensor qf;
        outs.push_back((RunReferenceInference(*generator_, x.slice(0, i, i + 1), options, nullptr,
                                              &seconds, nullptr, &qf) +
                        1.0) /
                       2.0);
        qfs.push_back(qf);
      }
      out = torch::cat(outs);
      qf_raw = torch::cat(qfs);
    } else {
      const models::Conditioning conditioning = generator_->Condition(x, &seconds);
      qf_raw = conditioning.qf;
      models::GenerateOptions generate;
      // Per tile, so a tile's noise does not depend on its batch neighbours.
      if (std::any_of(seeds.begin(), seeds.end(), [](const auto& s) { return s.has_value(); })) {
        generate.posterior_seeds = seeds;
      }
      out = (generator_->Generate(conditioning.image, conditioning.context, generate, nullptr,
                                  &seconds) +
             1.0) /
            2.0;
    }
    if (qf_out != nullptr) {
      *qf_out = models::CaVEImpl::QualityFactorFromOutput(qf_raw)
                    .reshape({-1})
                    .to(torch::kCPU, torch::kFloat32)
                    .clamp(0.0, 100.0);
    }
    return out.to(torch::kCPU, torch::kFloat32).contiguous();
  });
}

absl::StatusOr<RestoreResult> Restorer::Finish(const PreparedImage& prepared,
                                               const torch::Tensor& tile_outputs) const {
  if (!prepared.unchanged_reason.empty()) {
    RestoreResult result;
    ASSIGN_OR_RETURN(result.image,
                     image::RestoreSourceMode(prepared.decoded.rgb, prepared.decoded));
    result.unchanged_reason = prepared.unchanged_reason;
    return result;
  }
  if (!tile_outputs.defined() || tile_outputs.sizes() != prepared.tiles.sizes()) {
    return absl::InvalidArgumentError("Finish: tile outputs do not match the prepared tiles");
  }
  models::StageSeconds stages;
  ASSIGN_OR_RETURN(torch::Tensor fixed, CatchTorchErrors("blending tiles", [&] {
                     const torch::Tensor outputs = tile_outputs.to(torch::kCPU, torch::kFloat32);
                     torch::Tensor blended;
                     if (prepared.whole_image) {
                       blended = outputs.slice(2, 0, prepared.plan.image_height)
                                     .slice(3, 0, prepared.plan.image_width);
                     } else {
                       TileBlender blender(prepared.plan, 3);
                       for (int64_t i = 0; i < outputs.size(0); ++i) {
                         blender.Add(static_cast<int>(i), outputs[i]);
                       }
                       blended = blender.Result();
                     }
                     const RestoreOptions& options = prepared.options;
                     torch::Tensor out;
                     {
                       models::StageTimer timer(&stages.color_fix);
                       out =
                           ApplyColorFix(blended, prepared.source,
                                         options.color_fix.value_or(DefaultColorFix(options.mode)));
                     }
                     const auto& luma_table = prepared.decoded.jpeg_luma_table;
                     if (options.jpeg_consistency && luma_table) {
                       models::StageTimer timer(&stages.jpeg_projection);
                       out = ProjectLumaOntoJpeg(out, prepared.source, *luma_table,
                                                 prepared.decoded.jpeg_luma_coefficients.get());
                     }
                     return out;
                   }));
  ASSIGN_OR_RETURN(image::Image rgb, TensorToImage(fixed));
  RestoreResult result;
  ASSIGN_OR_RETURN(result.image, image::RestoreSourceMode(rgb, prepared.decoded));
  result.tile_count = static_cast<int>(prepared.plan.tiles.size());
  result.stages = stages;
  return result;
}

absl::StatusOr<RestoreResult> Restorer::Restore(const image::DecodedImage& decoded,
                                                const RestoreOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(PreparedImage prepared, Prepare(decoded, options));
  if (!prepared.unchanged_reason.empty()) return Finish(prepared, torch::Tensor());
  const std::vector<std::optional<uint64_t>> seeds = prepared.TileSeeds();
  const int64_t n = prepared.tiles.size(0);
  std::vector<torch::Tensor> outputs;
  std::vector<torch::Tensor> qfs;
  models::StageSeconds stages;
  for (int64_t begin = 0; begin < n; begin += config_.max_batch_tiles) {
    const int64_t end = std::min<int64_t>(n, begin + config_.max_batch_tiles);
    torch::Tensor qf;
    ASSIGN_OR_RETURN(torch::Tensor out,
                     RunTiles(prepared.tiles.slice(0, begin, end), options.mode,
                              {seeds.begin() + begin, seeds.begin() + end}, &qf, &stages));
    outputs.push_back(std::move(out));
    qfs.push_back(std::move(qf));
  }
  ASSIGN_OR_RETURN(RestoreResult result, Finish(prepared, torch::cat(outputs)));
  stages.color_fix = result.stages.color_fix;
  stages.jpeg_projection = result.stages.jpeg_projection;
  result.stages = stages;
  result.predicted_qf = torch::cat(qfs).mean().item<float>();
  result.compute_seconds = SecondsSince(start);
  return result;
}

absl::StatusOr<float> Restorer::EstimateQf(const image::DecodedImage& decoded) {
  RestoreOptions every_quality;
  every_quality.restore_high_quality_jpeg = true;  // the estimate is wanted for any file
  // Pixel tiles whatever the strategy: the QF head averages over them, and a
  // whole large image would not fit CaVE's full-resolution activations.
  every_quality.mode = RestoreMode::kFidelity;
  ASSIGN_OR_RETURN(PreparedImage prepared, Prepare(decoded, every_quality));
  return CatchTorchErrors("estimating the QF", [&] {
    torch::NoGradGuard no_grad;
    const torch::Tensor reference = generator_->parameters().front();
    torch::Tensor inputs = prepared.tiles;
    const int64_t crop = architecture().cave.qf_estimate_crop;
    const int64_t height = prepared.source.size(2), width = prepared.source.size(3);
    if (crop > 0 && height >= crop && width >= crop) {
      // Crops from the origin, so they stay on the 8x8 JPEG grid.
      std::vector<torch::Tensor> crops;
      for (int64_t y = 0; y + crop <= height; y += crop) {
        for (int64_t x = 0; x + crop <= width; x += crop) {
          crops.push_back(prepared.source.slice(2, y, y + crop).slice(3, x, x + crop));
        }
      }
      inputs = torch::cat(crops);
    }
    const int64_t n = inputs.size(0);
    std::vector<torch::Tensor> qfs;
    for (int64_t begin = 0; begin < n; begin += config_.max_batch_tiles) {
      const torch::Tensor x =
          inputs.slice(0, begin, std::min<int64_t>(n, begin + config_.max_batch_tiles))
              .to(reference.device(), reference.scalar_type());
      const torch::Tensor raw = generator_->cave()->PredictQf(x);
      qfs.push_back(models::CaVEImpl::QualityFactorFromOutput(raw).reshape({-1}).to(
          torch::kCPU, torch::kFloat32));
    }
    return torch::cat(qfs).mean().clamp(0.0, 100.0).item<float>();
  });
}

}  // namespace codiff::pipeline
