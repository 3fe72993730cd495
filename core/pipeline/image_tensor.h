// Image <-> [1, C, H, W] float tensors in [0, 1].
#pragma once

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace codiff::pipeline {

// [1, C, H, W] float32 on the CPU, sample / 255.
torch::Tensor ImageToTensor(const image::Image& image);

// [1, C, H, W] (C = 1, 3 or 4; any float dtype/device) -> 8-bit, rounding
// clamp(v, 0, 1) * 255 to nearest.
absl::StatusOr<image::Image> TensorToImage(const torch::Tensor& tensor);

}  // namespace codiff::pipeline
