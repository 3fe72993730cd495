#include "core/pipeline/jpeg_consistency.h"

#include <cmath>
#include <vector>

#include <torch/torch.h>

namespace codiff::pipeline {
namespace {

// JFIF luma on the 0..255 scale, level-shifted as the JPEG encoder does.
torch::Tensor LevelShiftedLuma(const torch::Tensor& rgb) {
  return (rgb[0][0] * 0.299 + rgb[0][1] * 0.587 + rgb[0][2] * 0.114) * 255.0 - 128.0;
}

// [H8, W8] -> [H8 / 8, W8 / 8, 8, 8]
torch::Tensor ToBlocks(const torch::Tensor& plane) {
  return plane.reshape({plane.size(0) / 8, 8, plane.size(1) / 8, 8}).permute({0, 2, 1, 3});
}

torch::Tensor FromBlocks(const torch::Tensor& blocks) {
  return blocks.permute({0, 2, 1, 3}).reshape({blocks.size(0) * 8, blocks.size(1) * 8});
}

}  // namespace

torch::Tensor JpegDctMatrix() {
  torch::Tensor d = torch::empty({8, 8}, torch::kFloat64);
  auto a = d.accessor<double, 2>();
  for (int u = 0; u < 8; ++u) {
    const double scale = u == 0 ? std::sqrt(1.0 / 8.0) : std::sqrt(2.0 / 8.0);
    for (int x = 0; x < 8; ++x) a[u][x] = scale * std::cos((2 * x + 1) * u * M_PI / 16.0);
  }
  return d;
}

torch::Tensor ProjectLumaOntoJpeg(const torch::Tensor& restored, const torch::Tensor& source,
                                  const std::array<uint16_t, 64>& luma_table,
                                  const image::JpegComponentCoefficients* luma_coefficients) {
  TORCH_CHECK(restored.dim() == 4 && restored.size(0) == 1 && restored.size(1) == 3 &&
                  restored.sizes() == source.sizes(),
              "ProjectLumaOntoJpeg: expected two [1, 3, H, W] images of the same size");
  const int64_t height = restored.size(2) / 8 * 8, width = restored.size(3) / 8 * 8;
  if (height == 0 || width == 0) return restored;
  // One float64 copy: the projection reads it and the correction lands in it.
  torch::Tensor out = restored.to(torch::kFloat64, /*non_blocking=*/false, /*copy=*/true);
  torch::Tensor r = out.slice(2, 0, height).slice(3, 0, width);
  const torch::Tensor dct = JpegDctMatrix();
  auto forward_dct = [&](const torch::Tensor& plane) {
    return torch::matmul(torch::matmul(dct, ToBlocks(plane)), dct.t());
  };
  const torch::Tensor q =
      torch::tensor(std::vector<double>(luma_table.begin(), luma_table.end()), torch::kFloat64)
          .reshape({8, 8});

  const torch::Tensor restored_coefs = forward_dct(LevelShiftedLuma(r));
  const bool from_file = luma_coefficients != nullptr &&
                         luma_coefficients->blocks_high >= height / 8 &&
                         luma_coefficients->blocks_wide >= width / 8;
  torch::Tensor k;
  torch::Tensor s;  // the source in float64: only needed to recover k from pixels
  if (from_file) {
    k = torch::from_blob(const_cast<int16_t*>(luma_coefficients->values.data()),
                         {luma_coefficients->blocks_high, luma_coefficients->blocks_wide, 8, 8},
                         torch::kInt16)
            .slice(0, 0, height / 8)
            .slice(1, 0, width / 8)
            .to(torch::kFloat64);
  } else {
    s = source.to(torch::kFloat64).slice(2, 0, height).slice(3, 0, width);
    k = torch::round(forward_dct(LevelShiftedLuma(s)) / q);
  }
  const torch::Tensor clipped =
      torch::min(torch::max(restored_coefs, (k - 0.5) * q), (k + 0.5) * q);
  torch::Tensor correction_coefs = clipped - restored_coefs;
  if (!from_file) {
    // Clipped source pixels (saturated colours) break the pixels -> k inversion.
    const torch::Tensor channel_blocks = s[0].reshape({3, height / 8, 8, width / 8, 8})
                                             .permute({1, 3, 0, 2, 4})
                                             .reshape({height / 8, width / 8, 3 * 64});
    const torch::Tensor saturated =
        ((channel_blocks <= 0.5 / 255.0) | (channel_blocks >= 254.5 / 255.0)).any(-1);
    correction_coefs.masked_fill_(saturated.unsqueeze(-1).unsqueeze(-1), 0.0);
  }
  const torch::Tensor correction =
      FromBlocks(torch::matmul(torch::matmul(dct.t(), correction_coefs), dct)) / 255.0;
  r.add_(correction.unsqueeze(0).unsqueeze(0));
  return out.clamp(0.0, 1.0).to(restored.scalar_type());
}

}  // namespace codiff::pipeline
