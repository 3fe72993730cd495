// CODiff's inference as the reference runs it on a whole image
// (github.com/jp-guo/CODiff, diffusion/codiff.py, CODiff_test.forward):
// CaVE encodes the WHOLE image once and its tokens condition every UNet tile;
// the UNet is tiled in latent space (96-latent tiles, 32 overlap, the
// reference's Gaussian weights, noise predictions blended, then one DDPM
// step); the VAE encoder and decoder run on the whole image, or in
// overlapping tiles when the image is larger than a memory budget allows.
//
// The reference's quirks are kept on purpose, so outputs match it on the
// same weights: untiled when the latent's AREA is at most 96 x 96 (a 100 x 75
// latent is one call), tile side min(96, h, w), the last tile in each
// direction aligned to the far edge, and a Gaussian whose x midpoint is
// (side - 1) / 2 but whose y midpoint is side / 2.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "core/models/one_step_generator.h"
#include "core/models/trace.h"

namespace codiff::pipeline {

struct LatentTile {
  int64_t x = 0;  // left, in latents
  int64_t y = 0;  // top
  int64_t size = 0;
};

struct LatentTiling {
  int64_t tile = 96;  // latents (768 px)
  int64_t overlap = 32;
};

// The tiles the reference runs over an h x w latent, in its order (x outer,
// y inner); empty when it runs the UNet once on the whole latent.
std::vector<LatentTile> ReferenceLatentTiles(int64_t height, int64_t width,
                                             const LatentTiling& tiling = {});

// The reference's blending weights for a square tile, [size, size] float64.
torch::Tensor ReferenceGaussianWeights(int64_t size);

struct VaeTiling {
  // The VAE runs untiled up to this many pixels (0 = always untiled); above
  // it, in overlapping tiles whose outputs are blended with linear ramps.
  // Tiling bounds the VAE's activation memory but is an approximation: each
  // tile's GroupNorms and mid-block attention see only that tile.
  int64_t max_untiled_pixels = 1536 * 1536;
  int64_t tile = 512;    // pixels, a multiple of 64
  int64_t overlap = 64;  // pixels, a multiple of 8
};

struct ReferenceOptions {
  LatentTiling latent;
  VaeTiling vae;
  models::GenerateOptions generate;
};

// x: [B, 3, H, W] in [0, 1], H and W multiples of the VAE's factor (the
// reference takes multiples of 8; CaVE pads for itself). Returns the image in
// [-1, 1] (clamped). `unet_tiles`, if given, receives the tiles run (empty
// for one whole-latent call). Trace names: emb, ctx, z_L, eps, z_H, out.
torch::Tensor RunReferenceInference(models::OneStepGeneratorImpl& generator, const torch::Tensor& x,
                                    const ReferenceOptions& options, models::Trace* trace = nullptr,
                                    models::StageSeconds* seconds = nullptr,
                                    std::vector<LatentTile>* unet_tiles = nullptr,
                                    torch::Tensor* qf = nullptr);

}  // namespace codiff::pipeline
