// GroupNorm evaluated on NCHW memory, for the models' channels-last CPU path.
#pragma once

#include <torch/nn/modules/normalization.h>

namespace codiff::models {

// norm(x), with a channels-last CPU input copied to NCHW first and the result
// given back channels-last. LibTorch 1.13's CPU kernel for channels-last
// input takes each group's variance in one pass (E[x^2] - E[x]^2), which
// loses digits when the activations have a large mean: on the VAE encoder's
// activations it moved z_L by 4.5e-4 (NCHW: 2e-5), and the UNet carried that
// to 7 grey levels in the reference path's output (issue 29). The NCHW kernel
// uses Welford's update. Other inputs go to norm unchanged.
torch::Tensor GroupNormNchw(torch::nn::GroupNorm norm, const torch::Tensor& x);

}  // namespace codiff::models
