// codiff-train eval: compress lossless images with libjpeg at given QFs,
// restore them through the same Restorer the server runs (tiling, colour
// fix, clamping), and report PSNR / SSIM / PSNR-B on Y for the JPEG input,
// each restoration mode and, optionally, ffmpeg's spp deblocking filter;
// plus NIQE (no reference; core/metrics/niqe.h) for every row, seconds per
// megapixel and CaVE's QF estimate on the decoded pixels (as if the JPEG had
// been re-saved as PNG: no header to read). Optionally the same on images
// compressed twice with shifted 8x8 grids (double JPEG).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace codiff::training {

struct EvalOptions {
  std::string model_dir;
  std::string data_dir;
  std::vector<int> qfs = {5, 10, 20, 30};
  // "perceptual" (the one-step diffusion output) and/or "fidelity" (CaVE's
  // restoring decoder); the older names "generator" / "cave" are accepted.
  std::vector<std::string> modes = {"perceptual", "fidelity"};
  // adain | wavelet | none; empty = each mode's server default (DefaultColorFix).
  std::string color_fix;
  bool estimate_qf = true;
  // The server's default; false restores without the JPEG luma projection
  // (RestoreOptions::jpeg_consistency), to measure what it adds.
  bool jpeg_consistency = true;
  // ffmpeg spp qp values to try (empty: no spp row). The row reports, per QF,
  // the qp with the best mean PSNR over the set, as a user tuning it would.
  std::vector<int> spp_qps;
  std::string ffmpeg = "ffmpeg";
  // NIQE pristine model (a codiff-niqe/1 JSON file, training/niqe/); empty:
  // no NIQE. Images smaller than one NIQE patch (96 px) are left out of the
  // NIQE mean; a row whose images are all smaller has no "niqe".
  std::string niqe_model;
  // Double JPEG: each (QF1, QF2) compresses at QF1, crops `double_jpeg_shift`
  // pixels off the top and left (so the second 8x8 grid is shifted by that
  // much against the first), compresses at QF2; the reference is the source
  // cropped the same way, the QF label QF2.
  std::vector<std::pair<int, int>> double_jpeg;
  int double_jpeg_shift = 4;
  int max_images = 0;  // 0 = all
  int threads = 2;
  bool progress = true;  // a line per image on stderr
};

// Returns {"<qf>": {"jpeg": {psnr, ssim, psnrb, niqe}, "<mode>": {...,
// "s_per_mp"}, "spp": {..., "qp"}, "qf_estimate": {"mae", "mean"}}, ...,
// "double_jpeg": {"<qf1>:<qf2>": {the same}, "shift": N}, "images": N}.
absl::StatusOr<nlohmann::json> RunEval(const EvalOptions& options);

}  // namespace codiff::training
