// Colour correction of a restored image against its source: diffusion output
// tends to drift in global colour, which these methods pull back.
#pragma once

#include <torch/types.h>

namespace codiff::pipeline {

enum class ColorFix { kAdain, kWavelet, kNone };

// restored, source: [1, 3, H, W] in [0, 1] (float, same device). Returns
// [1, 3, H, W], NOT clamped (so the statistics are exact; TensorToImage
// clamps when the image is written).
// kAdain: restored's per-channel mean/std matched to the source's.
// kWavelet: the source's low frequencies + restored's high frequencies (as in
// StableSR's wavelet_reconstruction: 5 levels of dilated 3x3 Gaussian blur).
// kNone: restored unchanged.
torch::Tensor ApplyColorFix(const torch::Tensor& restored, const torch::Tensor& source,
                            ColorFix fix);

// The low-frequency part (the image after `levels` dilated blurs) that
// kWavelet takes from the source; exposed for tests.
torch::Tensor WaveletLowFrequency(const torch::Tensor& image, int levels = 5);

}  // namespace codiff::pipeline
