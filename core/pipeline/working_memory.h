// How much memory a restorer needs above its weights while it computes, so
// that a memory budget (the server's limits.max_memory_bytes) can decide how
// large a piece of image each stage may take at once.
#pragma once

#include <cstdint>

#include "core/models/model_architecture.h"

namespace codiff::pipeline {

struct WorkingMemoryModel {
  // Whole-image stages (CaVE, VAE encoder and decoder at full resolution):
  // bytes per pixel of the largest of them.
  double bytes_per_pixel = 0;
  // What does not grow with the image: the UNet on one latent tile.
  double fixed_bytes = 0;
};

// Scaled from measurements of the sd21 preset (codiff-model demo, float32,
// CPU; docs/performance.md) by the full-resolution widths of the VAE and
// CaVE, and by the UNet's width for the fixed part.
WorkingMemoryModel WorkingMemoryOf(const models::ModelArchitecture& arch);

// The largest whole-image side-product area (pixels) that fits `bytes`
// above the weights; 0 when not even the fixed part fits.
int64_t MaxPixelsWithin(const WorkingMemoryModel& model, int64_t bytes);

// Estimated bytes above the weights for a stage over `pixels`.
int64_t WorkingBytesFor(const WorkingMemoryModel& model, int64_t pixels);

}  // namespace codiff::pipeline
