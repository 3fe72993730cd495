#include "core/pipeline/color_fix.h"

#include <algorithm>

#include <torch/torch.h>

namespace codiff::pipeline {
namespace {

namespace F = torch::nn::functional;

// StableSR's calc_mean_std: unbiased variance plus eps, so flat channels do
// not divide by zero.
std::pair<torch::Tensor, torch::Tensor> MeanStd(const torch::Tensor& x, double eps = 1e-5) {
  const torch::Tensor flat = x.flatten(2);
  // A 1-pixel image has no unbiased variance (0 / 0); its spread is 0.
  const bool unbiased = flat.size(2) > 1;
  const torch::Tensor var = flat.var(2, unbiased, /*keepdim=*/true) + eps;
  return {flat.mean(2, /*keepdim=*/true).unsqueeze(-1), var.sqrt().unsqueeze(-1)};
}

torch::Tensor Adain(const torch::Tensor& restored, const torch::Tensor& source) {
  const auto [r_mean, r_std] = MeanStd(restored);
  const auto [s_mean, s_std] = MeanStd(source);
  return (restored - r_mean) / r_std * s_std + s_mean;
}

// StableSR's wavelet_blur: a 3x3 binomial kernel dilated by `radius`, with
// replicate padding.
torch::Tensor WaveletBlur(const torch::Tensor& image, int radius) {
  const int64_t channels = image.size(1);
  const torch::Tensor kernel =
      torch::tensor({0.0625f, 0.125f, 0.0625f, 0.125f, 0.25f, 0.125f, 0.0625f, 0.125f, 0.0625f},
                    image.options())
          .view({1, 1, 3, 3})
          .repeat({channels, 1, 1, 1});
  // Replicate padding needs an input wider than the pad; repeating the
  // pad in steps keeps tiny images (down to 1x1) working with the same result.
  torch::Tensor padded = image;
  int remaining = radius;
  while (remaining > 0) {
    const int step =
        std::min<int>(remaining, static_cast<int>(std::min(padded.size(2), padded.size(3))));
    padded = F::pad(padded, F::PadFuncOptions({step, step, step, step}).mode(torch::kReplicate));
    remaining -= step;
  }
  return F::conv2d(padded, kernel, F::Conv2dFuncOptions().groups(channels).dilation(radius));
}

}  // namespace

torch::Tensor WaveletLowFrequency(const torch::Tensor& image, int levels) {
  torch::Tensor low = image;
  for (int i = 0; i < levels; ++i) low = WaveletBlur(low, 1 << i);
  return low;
}

torch::Tensor ApplyColorFix(const torch::Tensor& restored, const torch::Tensor& source,
                            ColorFix fix) {
  TORCH_CHECK(restored.sizes() == source.sizes(), "ApplyColorFix: restored ", restored.sizes(),
              " and source ", source.sizes(), " differ in shape");
  switch (fix) {
    case ColorFix::kAdain:
      return Adain(restored, source.to(restored.options()));
    case ColorFix::kWavelet:
      // The high-frequency sum telescopes to image - low, so
      // high(restored) + low(source) = restored - low(restored) + low(source).
      return restored - WaveletLowFrequency(restored) +
             WaveletLowFrequency(source.to(restored.options()));
    case ColorFix::kNone:
      break;
  }
  return restored;
}

}  // namespace codiff::pipeline
