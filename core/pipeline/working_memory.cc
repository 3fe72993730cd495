#include "core/pipeline/working_memory.h"

#include <algorithm>

namespace codiff::pipeline {
namespace {

// sd21 (VAE 128 channels at full resolution, CaVE 64, UNet 320), float32,
// measured with codiff-model demo (peak RSS after loading minus the
// resident model) at 512x512 and 1024x1024, reference strategy.
constexpr double kSd21BytesPerPixel = 3000;
constexpr double kSd21FixedBytes = 0.3e9;

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
