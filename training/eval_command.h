// codiff-train eval: compress images at given QFs, restore them with a model
// folder, and report PSNR / SSIM / PSNR-B on Y for the JPEG input and each
// restoration mode, plus seconds per megapixel.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace codiff::training {

struct EvalOptions {
  std::string model_dir;
  std::string data_dir;
  std::vector<int> qfs = {10, 20, 30, 40};
  // "generator": the one-step diffusion output; "cave": CaVE's own
  // fidelity-oriented decoder.
  std::vector<std::string> modes = {"generator"};
  int max_images = 0;  // 0 = all
  int threads = 2;
};

// Returns {"<qf>": {"jpeg": {psnr, ssim, psnrb}, "<mode>": {..., "s_per_mp"}}}.
absl::StatusOr<nlohmann::json> RunEval(const EvalOptions& options);

}  // namespace codiff::training
