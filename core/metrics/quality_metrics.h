// Full-reference quality metrics as reported in the JPEG-restoration
// literature: PSNR, SSIM and PSNR-B, on the BT.601 luma channel or on RGB.
// All arithmetic is in double on 8-bit inputs with data range 255.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace codiff::metrics {

enum class MetricChannels {
  // Y of ITU-R BT.601 studio range, as MATLAB rgb2ycbcr:
  // Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 with R, G, B in 0..255,
  // so Y lies in [16, 235].
  kY,
  // The R, G, B channels themselves.
  kRgb,
};

struct MetricOptions {
  MetricChannels channels = MetricChannels::kY;
  // MATLAB's rgb2ycbcr on uint8 input (and KAIR/FBCNN's rgb2ycbcr) rounds Y
  // to an integer; BasicSR/SwinIR's to_y_channel keeps the fraction. Papers
  // use both; the difference is ~0.01 dB. Rounding is half away from zero.
  bool round_luma = true;
};

// Inputs: two images of equal size with 1 or 3 channels (an alpha channel
// must be dropped first). A 1-channel image is treated as R = G = B for kY.
// Errors are InvalidArgument.

// 10 log10(255^2 / MSE). On kRgb the MSE is taken over all samples jointly
// (skimage peak_signal_noise_ratio, KAIR calculate_psnr). +inf when equal.
absl::StatusOr<double> Psnr(const image::Image& reference, const image::Image& test,
                            const MetricOptions& options = MetricOptions());

// Gaussian-weighted SSIM (Wang et al. 2004) exactly as scikit-image 0.19
// structural_similarity(gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, data_range=255): 11-tap Gaussian (truncate
// 3.5), 'reflect' borders (d c b a | a b c d), K1 = 0.01, K2 = 0.03, the SSIM
// map averaged after cropping 5 pixels on every side. On kRgb the mean of the
// per-channel values (skimage channel_axis). Both sides must be >= 11.
absl::StatusOr<double> Ssim(const image::Image& reference, const image::Image& test,
                            const MetricOptions& options = MetricOptions());

// PSNR-B (Yim & Bovik 2011): 10 log10(255^2 / (MSE + BEF(test))), with the
// blocking effect factor of 8x8 blocks measured on `test` (the distorted or
// restored image). Matches the PSNR-B in KAIR/FBCNN/SwinIR
// (calculate_psnrb(img1, img2) computes BEF on img1: pass the test image
// there to get this value), including its counting for sides that are not a
// multiple of 8: boundary pairs at columns 7, 15, ... < W - 1 are summed but
// the boundary count is H * (W / 8 - 1). On kRgb the mean of per-channel
// PSNR-B values. Both sides must be >= 16. +inf when equal and unblocked.
absl::StatusOr<double> PsnrB(const image::Image& reference, const image::Image& test,
                             const MetricOptions& options = MetricOptions());

// BT.601 luma plane (see MetricChannels::kY), row-major, width * height.
std::vector<double> LumaPlane(const image::Image& image, bool round_luma);

}  // namespace codiff::metrics
