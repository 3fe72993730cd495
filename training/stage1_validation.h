// Stage-1 validation: how well CaVE tells compression levels apart (QF mean
// absolute error per QF, including QFs never seen in training) and how well
// its decoder restores (PSNR on Y against the JPEG input's PSNR).
#pragma once

#include <nlohmann/json.hpp>

#include "core/models/cave.h"
#include "training/data/batch.h"

namespace codiff::training {

// Puts `cave` in eval mode. Returns {"per_qf": {"10": {"qf_mae", "qf_mean",
// "psnr", "psnr_jpeg"}, ...}, "qf_mae": mean over QFs}.
nlohmann::json ValidateCave(models::CaVEImpl& cave, const ValidationSet& set);

// Mean PSNR on Y (core metrics) of `test` against `reference`, [N, 3, H, W] in [0, 1].
double MeanPsnrY(const torch::Tensor& reference, const torch::Tensor& test);
double MeanSsimY(const torch::Tensor& reference, const torch::Tensor& test);

}  // namespace codiff::training
