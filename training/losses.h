// The training objectives of both stages, as plain functions so each can be
// checked against a hand-computed value.
#pragma once

#include <string>

#include <torch/types.h>

namespace codiff::training {

// (100 - QF) / 100: the QF head's target (QF 10 -> 0.9).
torch::Tensor QualityTarget(const torch::Tensor& qf);

// L1(qf_pred, (100 - QF) / 100); qf_pred [B, 1] or [B], qf [B] in 0..100.
torch::Tensor QualityFactorLoss(const torch::Tensor& qf_pred, const torch::Tensor& qf);

// MSE on the error's luma plus kChromaWeight x its two chroma channels'
// (BT.601 YCbCr, the JPEG's transform): restoration_loss "mse_luma". At 4:2:0
// the chroma error dominates an RGB MSE, yet the luma carries the detail
// (and is what PSNR-Y scores); this moves the network's capacity there while
// still training the colour.
inline constexpr double kChromaWeight = 0.25;
torch::Tensor LumaWeightedMse(const torch::Tensor& restored, const torch::Tensor& hq);

// Mean squared error of the luma's step across each 8x8 block boundary (the
// difference between the two pixels either side, restored minus reference),
// over vertical and horizontal boundaries of a grid anchored at (0, 0): the
// training crops are encoded from their own top-left corner. A pixel MSE
// weighs a leftover block edge like any other error of the same energy; PSNR-B
// (and a viewer) weighs it more, so restoration_loss "mse_luma_blocks" adds
// this at kBlockEdgeWeight to LumaWeightedMse.
inline constexpr double kBlockEdgeWeight = 0.5;
torch::Tensor BlockEdgeStepMse(const torch::Tensor& restored, const torch::Tensor& hq);

// Stage 1. "dual": restoration loss + qf_weight * QF loss; "explicit": the
// QF loss only; "implicit": the restoration loss only. The restoration loss
// is L1 (the paper) or, with restoration_loss "mse", the mean squared error
// ("mse_luma": LumaWeightedMse; "mse_luma_blocks": that plus
// kBlockEdgeWeight x BlockEdgeStepMse).
struct Stage1Losses {
  torch::Tensor total, restoration, quality;
};
Stage1Losses Stage1Loss(const std::string& objective, const torch::Tensor& restored,
                        const torch::Tensor& hq, const torch::Tensor& qf_pred,
                        const torch::Tensor& qf, double qf_weight,
                        const std::string& restoration_loss = "l1");

// Mean SSIM with an 11-tap Gaussian window (sigma 1.5), computed per channel
// over the valid region (no padding), data range 1, K1 0.01, K2 0.03.
// x, y [B, C, H, W] in [0, 1] with H, W >= 11.
torch::Tensor Ssim(const torch::Tensor& x, const torch::Tensor& y);
// 1 - SSIM: the weight-free structural loss used when DISTS weights are absent.
torch::Tensor SsimLoss(const torch::Tensor& x, const torch::Tensor& y);

// Generator side of the GAN: softplus(-D(fake)).mean() (non-saturating).
torch::Tensor GeneratorGanLoss(const torch::Tensor& fake_logits);
// Discriminator: BCE-with-logits(real, 1) + BCE-with-logits(fake, 0), means.
torch::Tensor DiscriminatorLoss(const torch::Tensor& real_logits, const torch::Tensor& fake_logits);

}  // namespace codiff::training
