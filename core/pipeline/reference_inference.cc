#include "core/pipeline/reference_inference.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>

#include <torch/torch.h>

namespace codiff::pipeline {
namespace {

// Tile starts along one axis: stride tile - overlap, the last tile aligned to
// the far edge; one tile covering the axis when it is not longer than a tile.
std::vector<int64_t> TileStarts(int64_t length, int64_t tile, int64_t overlap) {
  if (length <= tile) return {0};
  std::vector<int64_t> starts;
  const int64_t stride = tile - overlap;
  for (int64_t s = 0; s + tile < length; s += stride) starts.push_back(s);
  starts.push_back(length - tile);
  return starts;
}

// 1 inside, ramping down linearly across `ramp` samples at edges that face
// another tile (an edge of the image keeps full weight).
torch::Tensor RampWeights(int64_t size, int64_t ramp, bool ramp_start, bool ramp_end) {
  std::vector<float> w(static_cast<size_t>(size), 1.0f);
  for (int64_t i = 0; i < size; ++i) {
    float v = 1.0f;
    if (ramp_start && i < ramp) v = std::min(v, static_cast<float>(i + 1) / (ramp + 1));
    if (ramp_end && size - 1 - i < ramp) {
      v = std::min(v, static_cast<float>(size - i) / (ramp + 1));
    }
    w[static_cast<size_t>(i)] = v;
  }
  return torch::tensor(w);
}

// Runs `fn` on overlapping spatial tiles of `input` ([B, C, H, W]) and blends
// the outputs, which are `scale` times the tile's size (1/8 for the VAE
// encoder, 8 for the decoder). Tile and overlap are in input samples.
torch::Tensor TiledApply(const torch::Tensor& input, int64_t tile, int64_t overlap, double scale,
                         const std::function<torch::Tensor(const torch::Tensor&, int64_t, int64_t,
                                                           int64_t, int64_t)>& fn) {
  const int64_t height = input.size(2), width = input.size(3);
  const std::vector<int64_t> ys = TileStarts(height, tile, overlap);
  const std::vector<int64_t> xs = TileStarts(width, tile, overlap);
  torch::Tensor out, weight_sum;
  const auto out_size = [scale](int64_t n) {
    return static_cast<int64_t>(std::llround(n * scale));
  };
  const int64_t ramp = out_size(overlap);
  for (size_t iy = 0; iy < ys.size(); ++iy) {
    for (size_t ix = 0; ix < xs.size(); ++ix) {
      const int64_t y0 = ys[iy], x0 = xs[ix];
      const int64_t th = std::min(tile, height), tw = std::min(tile, width);
      torch::Tensor result = fn(input.slice(2, y0, y0 + th).slice(3, x0, x0 + tw), y0, x0, th, tw);
      if (!out.defined()) {
        out = torch::zeros({result.size(0), result.size(1), out_size(height), out_size(width)},
                           result.options());
        weight_sum = torch::zeros({1, 1, out_size(height), out_size(width)}, result.options());
      }
      const torch::Tensor wy =
          RampWeights(result.size(2), ramp, iy > 0, iy + 1 < ys.size()).to(result.options());
      const torch::Tensor wx =
          RampWeights(result.size(3), ramp, ix > 0, ix + 1 < xs.size()).to(result.options());
      const torch::Tensor w = torch::outer(wy, wx).unsqueeze(0).unsqueeze(0);
      const int64_t oy = out_size(y0), ox = out_size(x0);
      out.slice(2, oy, oy + result.size(2)).slice(3, ox, ox + result.size(3)).add_(result * w);
      weight_sum.slice(2, oy, oy + result.size(2)).slice(3, ox, ox + result.size(3)).add_(w);
    }
  }
  return out / weight_sum;
}

bool TileVae(const VaeTiling& tiling, int64_t height, int64_t width) {
  return tiling.max_untiled_pixels > 0 && height * width > tiling.max_untiled_pixels;
}

}  // namespace

std::vector<LatentTile> ReferenceLatentTiles(int64_t height, int64_t width,
                                             const LatentTiling& tiling) {
  if (height * width <= tiling.tile * tiling.tile) return {};
  const int64_t size = std::min({tiling.tile, height, width});
  // The reference counts its grid with these loops (its "rows" walk x).
  const auto grid = [&](int64_t length) {
    int64_t count = 0, covered = 0;
    while (covered < length) {
      covered = std::max<int64_t>(count * size - tiling.overlap * count, 0) + size;
      ++count;
    }
    return count;
  };
  const int64_t rows = grid(width), cols = grid(height);
  std::vector<LatentTile> tiles;
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t col = 0; col < cols; ++col) {
      LatentTile t;
      t.size = size;
      t.x =
          row == rows - 1 ? width - size : std::max<int64_t>(row * size - tiling.overlap * row, 0);
      t.y =
          col == cols - 1 ? height - size : std::max<int64_t>(col * size - tiling.overlap * col, 0);
      tiles.push_back(t);
    }
  }
  return tiles;
}

torch::Tensor ReferenceGaussianWeights(int64_t size) {
  constexpr double kVar = 0.01;
  const double norm = 1.0 / std::sqrt(2.0 * M_PI * kVar);
  const auto probs = [&](double midpoint) {
    std::vector<double> p(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      const double d = static_cast<double>(i) - midpoint;
      p[static_cast<size_t>(i)] =
          std::exp(-d * d / static_cast<double>(size * size) / (2.0 * kVar)) * norm;
    }
    return torch::tensor(p, torch::kFloat64);
  };
  return torch::outer(probs(static_cast<double>(size) / 2.0),
                      probs((static_cast<double>(size) - 1.0) / 2.0));
}

torch::Tensor RunReferenceInference(models::OneStepGeneratorImpl& generator, const torch::Tensor& x,
                                    const ReferenceOptions& options, models::Trace* trace,
                                    models::StageSeconds* seconds,
                                    std::vector<LatentTile>* unet_tiles, torch::Tensor* qf) {
  models::StageSeconds local;
  models::StageSeconds& s = seconds != nullptr ? *seconds : local;
  const models::Conditioning conditioning = generator.Condition(x, &s);
  if (qf != nullptr) *qf = conditioning.qf;
  models::Record(trace, "emb", conditioning.tokens);
  models::Record(trace, "ctx", conditioning.context);
  const torch::Tensor& image = conditioning.image;
  const int64_t height = image.size(2), width = image.size(3);
  const bool tile_vae = TileVae(options.vae, height, width);

  torch::Tensor z_low;
  {
    models::StageTimer timer(&s.vae_encode);
    if (tile_vae) {
      z_low = TiledApply(image, options.vae.tile, options.vae.overlap, 1.0 / 8,
                         [&](const torch::Tensor& tile, int64_t, int64_t, int64_t, int64_t) {
                           return generator.EncodeLatent(tile, options.generate);
                         });
    } else {
      z_low = generator.EncodeLatent(image, options.generate);
    }
  }

  std::optional<models::StageTimer> unet_timer(&s.unet);
  const int64_t lh = z_low.size(2), lw = z_low.size(3);
  const std::vector<LatentTile> tiles = ReferenceLatentTiles(lh, lw, options.latent);
  torch::Tensor eps;
  if (tiles.empty()) {
    eps = generator.PredictNoise(z_low, conditioning.context);
  } else {
    const int64_t size = tiles.front().size;
    const torch::Tensor weights = ReferenceGaussianWeights(size).to(z_low.device());
    torch::Tensor sum = torch::zeros_like(z_low, z_low.options().dtype(torch::kFloat32));
    torch::Tensor contributors =
        torch::zeros({1, 1, lh, lw}, z_low.options().dtype(torch::kFloat32));
    for (const LatentTile& t : tiles) {
      const torch::Tensor tile_eps = generator.PredictNoise(
          z_low.slice(2, t.y, t.y + size).slice(3, t.x, t.x + size), conditioning.context);
      // As the reference: float32 buffers, products with the float64 weights.
      sum.slice(2, t.y, t.y + size).slice(3, t.x, t.x + size).add_(tile_eps * weights);
      contributors.slice(2, t.y, t.y + size).slice(3, t.x, t.x + size).add_(weights);
    }
    eps = (sum / contributors).to(z_low.scalar_type());
  }
  if (unet_tiles != nullptr) *unet_tiles = tiles;
  const torch::Tensor z_high = generator.HighQualityLatent(z_low, eps);
  unet_timer.reset();

  torch::Tensor out;
  models::StageTimer decode_timer(&s.vae_decode);
  if (tile_vae) {
    const int64_t latent_tile = options.vae.tile / 8, latent_overlap = options.vae.overlap / 8;
    out =
        TiledApply(z_high, latent_tile, latent_overlap, 8.0,
                   [&](const torch::Tensor& z, int64_t y0, int64_t x0, int64_t th, int64_t tw) {
                     return generator.DecodeImage(
                         z, image.slice(2, y0 * 8, (y0 + th) * 8).slice(3, x0 * 8, (x0 + tw) * 8));
                   });
  } else {
    out = generator.DecodeImage(z_high, image);
  }
  if (trace != nullptr) {
    (*trace)["z_L"] = z_low;
    (*trace)["eps"] = eps;
    (*trace)["z_H"] = z_high;
    (*trace)["out"] = out;
  }
  return out;
}

}  // namespace codiff::pipeline
