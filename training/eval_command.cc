#include "training/eval_command.h"

#include <chrono>
#include <cstdio>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/metrics/quality_metrics.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/model_folder.h"
#include "training/data/batch.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {
namespace {

struct Sums {
  double psnr = 0, ssim = 0, psnrb = 0, seconds = 0, megapixels = 0;
  int n = 0;
  absl::Status Add(const image::Image& ref, const image::Image& test) {
    ASSIGN_OR_RETURN(double p, metrics::Psnr(ref, test));
    ASSIGN_OR_RETURN(double s, metrics::Ssim(ref, test));
    ASSIGN_OR_RETURN(double b, metrics::PsnrB(ref, test));
    psnr += std::min(p, 100.0);
    ssim += s;
    psnrb += std::min(b, 100.0);
    ++n;
    return absl::OkStatus();
  }
  nlohmann::json Json(bool timed) const {
    nlohmann::json j = {{"psnr", psnr / n}, {"ssim", ssim / n}, {"psnrb", psnrb / n}};
    if (timed) j["s_per_mp"] = seconds / megapixels;
    return j;
  }
};

// Replicate-pads to a multiple of 32 (CaVE's downsampling), runs `fn`, crops back.
torch::Tensor Padded(const torch::Tensor& x,
                     const std::function<torch::Tensor(torch::Tensor)>& fn) {
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t ph = (32 - h % 32) % 32, pw = (32 - w % 32) % 32;
  torch::Tensor p = torch::nn::functional::pad(
      x, torch::nn::functional::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReplicate));
  return fn(p).slice(2, 0, h).slice(3, 0, w);
}

absl::StatusOr<nlohmann::json> EvalImpl(const EvalOptions& options) {
  torch::set_num_threads(options.threads);
  torch::NoGradGuard no_grad;
  ASSIGN_OR_RETURN(LoadedModel model, LoadModelFolder(options.model_dir));
  models::OneStepGeneratorImpl& g = *model.generator;
  g.eval();
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListImageFiles({options.data_dir}));
  if (options.max_images > 0 && static_cast<int>(files.size()) > options.max_images) {
    files.resize(options.max_images);
  }
  nlohmann::json report = nlohmann::json::object();
  for (int qf : options.qfs) {
    Sums jpeg;
    std::map<std::string, Sums> modes;
    for (const std::string& f : files) {
      ASSIGN_OR_RETURN(image::Image hq, ReadRgbImage(f));
      ASSIGN_OR_RETURN(image::Image lq, JpegRoundTrip(hq, qf));
      RETURN_IF_ERROR(jpeg.Add(hq, lq));
      const torch::Tensor x = ImageToTensor(lq).unsqueeze(0);
      for (const std::string& mode : options.modes) {
        const auto start = std::chrono::steady_clock::now();
        torch::Tensor y;
        if (mode == "generator") {
          y = Padded(x, [&](torch::Tensor p) { return (g.forward(p) + 1.0) / 2.0; });
        } else if (mode == "cave") {
          y = Padded(x, [&](torch::Tensor p) { return g.cave()->forward(p).first; });
        } else {
          return absl::InvalidArgumentError("unknown mode '" + mode + "' (generator, cave)");
        }
        Sums& s = modes[mode];
        s.seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        s.megapixels += hq.width * static_cast<double>(hq.height) / 1e6;
        RETURN_IF_ERROR(s.Add(hq, TensorToImage(y[0])));
      }
    }
    nlohmann::json entry = {{"jpeg", jpeg.Json(false)}};
    for (const auto& [mode, s] : modes) entry[mode] = s.Json(true);
    report[std::to_string(qf)] = entry;
  }
  return report;
}

}  // namespace

absl::StatusOr<nlohmann::json> RunEval(const EvalOptions& options) {
  absl::StatusOr<absl::StatusOr<nlohmann::json>> r =
      CatchTorchErrors("eval", [&] { return EvalImpl(options); });
  if (!r.ok()) return r.status();
  return *std::move(r);
}

}  // namespace codiff::training
