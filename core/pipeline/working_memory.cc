#include "core/pipeline/working_memory.h"

#include <algorithm>

namespace codiff::pipeline {
namespace {

// sd21 (VAE 128 channels at full resolution, CaVE 64, UNet 320), float32,
// CPU, reference strategy, measured with codiff-model demo as the restore's
// peak RSS above the resident model: 1.03 GB at 512x512, 4.04 GB at
// 1024x1024 (4 UNet latent tiles): 3.8 KB per pixel and almost nothing fixed.
constexpr double kSd21BytesPerPixel = 3900;
constexpr double kSd21FixedBytes = 0.1e9;

}  // namespace

WorkingMemoryModel WorkingMemoryOf(const models::ModelArchitecture& arch) {
  const double vae_width = arch.vae.block_out_channels.empty()
                               ? 128.0
                               : static_cast<double>(arch.vae.block_out_channels.front());
  const double cave_width =
      arch.cave.widths.empty() ? 64.0 : static_cast<double>(arch.cave.widths.front());
  const double unet_width = arch.unet.block_out_channels.empty()
                                ? 320.0
                                : static_cast<double>(arch.unet.block_out_channels.front());
  WorkingMemoryModel model;
  model.bytes_per_pixel = kSd21BytesPerPixel * std::max(vae_width / 128.0, cave_width / 64.0);
  model.fixed_bytes = kSd21FixedBytes * unet_width / 320.0;
  return model;
}

int64_t MaxPixelsWithin(const WorkingMemoryModel& model, int64_t bytes) {
  const double left = static_cast<double>(bytes) - model.fixed_bytes;
  if (left <= 0 || model.bytes_per_pixel <= 0) return 0;
  return static_cast<int64_t>(left / model.bytes_per_pixel);
}

int64_t WorkingBytesFor(const WorkingMemoryModel& model, int64_t pixels) {
  return static_cast<int64_t>(model.fixed_bytes +
                              model.bytes_per_pixel * static_cast<double>(pixels));
}

}  // namespace codiff::pipeline
