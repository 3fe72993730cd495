#include "training/stage1_validation.h"

#include <string>

#include <torch/torch.h>

#include "core/metrics/quality_metrics.h"
#include "training/losses.h"

namespace codiff::training {
namespace {

template <typename Metric>
double MeanMetric(const torch::Tensor& reference, const torch::Tensor& test, Metric metric) {
  double sum = 0.0;
  for (int64_t i = 0; i < reference.size(0); ++i) {
    auto value = metric(TensorToImage(reference[i]), TensorToImage(test[i]));
    // Identical images give +inf PSNR; cap so means stay finite.
    sum += value.ok() ? std::min(*value, 100.0) : 0.0;
  }
  return sum / static_cast<double>(reference.size(0));
}

}  // namespace

double MeanPsnrY(const torch::Tensor& reference, const torch::Tensor& test) {
  return MeanMetric(reference, test, [](const image::Image& a, const image::Image& b) {
    return metrics::Psnr(a, b);
  });
}

double MeanSsimY(const torch::Tensor& reference, const torch::Tensor& test) {
  return MeanMetric(reference, test, [](const image::Image& a, const image::Image& b) {
    return metrics::Ssim(a, b);
  });
}

nlohmann::json ValidateCave(models::CaVEImpl& cave, const ValidationSet& set) {
  torch::NoGradGuard no_grad;
  cave.eval();
  nlohmann::json per_qf = nlohmann::json::object();
  double mae_sum = 0.0;
  for (size_t i = 0; i < set.qfs.size(); ++i) {
    const Batch& b = set.per_qf[i];
    // A conditioned decoder is told the true quality, as in training.
    auto [restored, qf_out] = cave.forward(b.lq, nullptr, QualityTarget(b.qf).reshape({-1, 1}));
    const torch::Tensor qf = models::CaVEImpl::QualityFactorFromOutput(qf_out).reshape({-1});
    const double mae = (qf - b.qf).abs().mean().item<double>();
    mae_sum += mae;
    per_qf[std::to_string(set.qfs[i])] = {{"qf_mae", mae},
                                          {"qf_mean", qf.mean().item<double>()},
                                          {"psnr", MeanPsnrY(b.hq, restored.clamp(0.0, 1.0))},
                                          {"psnr_jpeg", MeanPsnrY(b.hq, b.lq)}};
  }
  return {{"per_qf", per_qf}, {"qf_mae", set.qfs.empty() ? 0.0 : mae_sum / set.qfs.size()}};
}

}  // namespace codiff::training
