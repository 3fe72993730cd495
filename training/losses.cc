#include "training/losses.h"

#include <cmath>
#include <stdexcept>

#include <torch/torch.h>

namespace codiff::training {

namespace F = torch::nn::functional;

torch::Tensor QualityTarget(const torch::Tensor& qf) { return (100.0 - qf) / 100.0; }

torch::Tensor QualityFactorLoss(const torch::Tensor& qf_pred, const torch::Tensor& qf) {
  return (qf_pred.reshape({-1}) - QualityTarget(qf.to(qf_pred.dtype()).reshape({-1}))).abs().mean();
}

torch::Tensor LumaWeightedMse(const torch::Tensor& restored, const torch::Tensor& hq) {
  // BT.601 rows (the JPEG's own colour transform): Y, Cb, Cr of the error.
  const torch::Tensor rows = torch::tensor(
      {{0.299, 0.587, 0.114}, {-0.168736, -0.331264, 0.5}, {0.5, -0.418688, -0.081312}},
      restored.options());
  const torch::Tensor err = restored - hq;
  const torch::Tensor ycc = torch::einsum("oc,bchw->bohw", {rows, err});
  const torch::Tensor per_channel = ycc.pow(2).mean({0, 2, 3});
  return per_channel[0] + kChromaWeight * (per_channel[1] + per_channel[2]);
}

torch::Tensor BlockEdgeStepMse(const torch::Tensor& restored, const torch::Tensor& hq) {
  const torch::Tensor luma_row = torch::tensor({0.299, 0.587, 0.114}, restored.options());
  const torch::Tensor y = torch::einsum("c,bchw->bhw", {luma_row, restored - hq});
  // The step across the boundary between column 8k - 1 and 8k, of the error:
  // (r[8k] - r[8k-1]) - (h[8k] - h[8k-1]).
  auto boundary_steps = [](const torch::Tensor& e, int64_t dim) {
    const int64_t n = e.size(dim);
    const torch::Tensor after = torch::arange(8, n, 8, torch::kLong).to(e.device());
    return e.index_select(dim, after) - e.index_select(dim, after - 1);
  };
  torch::Tensor total = torch::zeros({}, restored.options());
  int terms = 0;
  for (int64_t dim : {1, 2}) {
    if (y.size(dim) <= 8) continue;
    total = total + boundary_steps(y, dim).pow(2).mean();
    ++terms;
  }
  return terms == 0 ? total : total / terms;
}

Stage1Losses Stage1Loss(const std::string& objective, const torch::Tensor& restored,
                        const torch::Tensor& hq, const torch::Tensor& qf_pred,
                        const torch::Tensor& qf, double qf_weight,
                        const std::string& restoration_loss) {
  Stage1Losses l;
  if (restoration_loss == "l1") {
    l.restoration = (restored - hq).abs().mean();
  } else if (restoration_loss == "mse") {
    l.restoration = (restored - hq).pow(2).mean();
  } else if (restoration_loss == "mse_luma") {
    l.restoration = LumaWeightedMse(restored, hq);
  } else if (restoration_loss == "mse_luma_blocks") {
    l.restoration =
        LumaWeightedMse(restored, hq) + kBlockEdgeWeight * BlockEdgeStepMse(restored, hq);
  } else {
    throw std::invalid_argument("restoration_loss must be l1, mse, mse_luma or mse_luma_blocks: " +
                                restoration_loss);
  }
  l.quality = QualityFactorLoss(qf_pred, qf);
  if (objective == "dual") {
    l.total = l.restoration + qf_weight * l.quality;
  } else if (objective == "explicit") {
    // No restoration target: the QF loss at unit weight (the weight only
    // sets the balance of the dual objective).
    l.total = l.quality;
  } else if (objective == "implicit") {
    l.total = l.restoration;
  } else {
    throw std::invalid_argument("objective must be dual, explicit or implicit: " + objective);
  }
  return l;
}

torch::Tensor Ssim(const torch::Tensor& x, const torch::Tensor& y) {
  const int64_t channels = x.size(1);
  torch::Tensor g = torch::arange(11, x.options()).sub(5.0);
  g = torch::exp(-g * g / (2.0 * 1.5 * 1.5));
  g = g / g.sum();
  const torch::Tensor window = torch::outer(g, g).expand({channels, 1, 11, 11}).contiguous();
  auto filter = [&](const torch::Tensor& t) {
    return F::conv2d(t, window, F::Conv2dFuncOptions().groups(channels));
  };
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  const torch::Tensor mx = filter(x), my = filter(y);
  const torch::Tensor sxx = filter(x * x) - mx * mx;
  const torch::Tensor syy = filter(y * y) - my * my;
  const torch::Tensor sxy = filter(x * y) - mx * my;
  const torch::Tensor map =
      ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2));
  return map.mean();
}

torch::Tensor SsimLoss(const torch::Tensor& x, const torch::Tensor& y) { return 1.0 - Ssim(x, y); }

torch::Tensor GeneratorGanLoss(const torch::Tensor& fake_logits) {
  return F::softplus(-fake_logits).mean();
}

torch::Tensor DiscriminatorLoss(const torch::Tensor& real_logits,
                                const torch::Tensor& fake_logits) {
  return F::binary_cross_entropy_with_logits(real_logits, torch::ones_like(real_logits)) +
         F::binary_cross_entropy_with_logits(fake_logits, torch::zeros_like(fake_logits));
}

}  // namespace codiff::training
