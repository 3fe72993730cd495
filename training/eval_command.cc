#include "training/eval_command.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/metrics/niqe.h"
#include "core/metrics/quality_metrics.h"
#include "core/pipeline/restorer.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;

struct Sums {
  double psnr = 0, ssim = 0, psnrb = 0, seconds = 0, megapixels = 0, niqe = 0;
  // All three RGB channels (the other columns are luma): shows what the
  // colour gets, which a luma-weighted training loss trades against Y.
  double psnr_rgb = 0;
  int n = 0, niqe_n = 0;
  // Returns the image's PSNR (for the progress line). `pristine` null: no
  // NIQE; an image smaller than one NIQE patch is left out of its mean.
  absl::StatusOr<double> Add(const image::Image& ref, const image::Image& test,
                             const metrics::NiqeModel* pristine) {
    ASSIGN_OR_RETURN(double p, metrics::Psnr(ref, test));
    ASSIGN_OR_RETURN(double s, metrics::Ssim(ref, test));
    ASSIGN_OR_RETURN(double b, metrics::PsnrB(ref, test));
    metrics::MetricOptions rgb;
    rgb.channels = metrics::MetricChannels::kRgb;
    ASSIGN_OR_RETURN(double p_rgb, metrics::Psnr(ref, test, rgb));
    if (pristine != nullptr && test.width >= pristine->patch_size &&
        test.height >= pristine->patch_size) {
      ASSIGN_OR_RETURN(double q, metrics::Niqe(test, *pristine));
      niqe += q;
      ++niqe_n;
    }
    psnr += std::min(p, 100.0);
    ssim += s;
    psnrb += std::min(b, 100.0);
    psnr_rgb += std::min(p_rgb, 100.0);
    ++n;
    return p;
  }
  nlohmann::json Json(bool timed) const {
    nlohmann::json j = {
        {"psnr", psnr / n}, {"ssim", ssim / n}, {"psnrb", psnrb / n}, {"psnr_rgb", psnr_rgb / n}};
    if (niqe_n > 0) j["niqe"] = niqe / niqe_n;
    if (timed) j["s_per_mp"] = seconds / megapixels;
    return j;
  }
};

absl::StatusOr<pipeline::RestoreMode> ParseMode(const std::string& mode) {
  if (mode == "perceptual" || mode == "generator") return pipeline::RestoreMode::kPerceptual;
  if (mode == "fidelity" || mode == "cave") return pipeline::RestoreMode::kFidelity;
  return absl::InvalidArgumentError("unknown mode '" + mode + "' (perceptual, fidelity)");
}

absl::StatusOr<std::optional<pipeline::ColorFix>> ParseColorFix(const std::string& name) {
  if (name.empty()) return std::nullopt;
  if (name == "adain") return pipeline::ColorFix::kAdain;
  if (name == "wavelet") return pipeline::ColorFix::kWavelet;
  if (name == "none") return pipeline::ColorFix::kNone;
  return absl::InvalidArgumentError("unknown colour fix '" + name + "' (adain, wavelet, none)");
}

std::string ModeName(const std::string& mode) {
  if (mode == "generator") return "perceptual";
  if (mode == "cave") return "fidelity";
  return mode;
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

// ffmpeg's spp filter (simple post-processing: re-quantised shifted DCTs at
// quality 6, the strongest) on a JPEG file, read back as RGB.
absl::StatusOr<image::Image> RunSpp(const EvalOptions& options, const std::string& jpeg_path,
                                    int qp, const std::string& out_path) {
  const std::string command =
      absl::StrCat(options.ffmpeg, " -nostdin -loglevel error -y -i '", jpeg_path,
                   "' -vf spp=quality=6:qp=", qp, " -frames:v 1 -pix_fmt rgb24 '", out_path, "'");
  if (std::system(command.c_str()) != 0) {
    return absl::FailedPreconditionError("ffmpeg spp failed (is ffmpeg installed?): " + command);
  }
  return ReadRgbImage(out_path);
}

// One low-quality input: the reference it is scored against, the JPEG file
// the restorer and spp read, and the QF the estimate is scored against.
struct Degraded {
  image::Image reference;
  std::string jpeg;
  int qf = 0;
};
using Degrade = std::function<absl::StatusOr<Degraded>(const image::Image& hq)>;

struct EvalContext {
  const EvalOptions& options;
  const std::vector<pipeline::RestoreMode>& modes;
  const std::optional<pipeline::ColorFix>& color_fix;
  pipeline::Restorer& restorer;
  const std::vector<std::string>& files;
  const metrics::NiqeModel* pristine;
  const std::string& scratch;
};

// Every row for one degradation, over all images.
absl::StatusOr<nlohmann::json> EvalCondition(const EvalContext& c, const std::string& label,
                                             const Degrade& degrade) {
  const EvalOptions& options = c.options;
  Sums jpeg;
  std::map<std::string, Sums> by_mode;
  std::map<int, Sums> spp;
  double qf_abs_error = 0, qf_sum = 0;
  for (const std::string& f : c.files) {
    ASSIGN_OR_RETURN(image::Image hq, ReadRgbImage(f));
    ASSIGN_OR_RETURN(Degraded d, degrade(hq));
    ASSIGN_OR_RETURN(image::DecodedImage lq, image::DecodeImage(d.jpeg));
    RETURN_IF_ERROR(jpeg.Add(d.reference, lq.rgb, c.pristine).status());
    const double megapixels = lq.rgb.width * static_cast<double>(lq.rgb.height) / 1e6;
    std::string line = absl::StrCat("QF ", label, " ", fs::path(f).filename().string());
    for (size_t i = 0; i < c.modes.size(); ++i) {
      pipeline::RestoreOptions restore;
      restore.mode = c.modes[i];
      restore.color_fix = c.color_fix;
      restore.jpeg_consistency = options.jpeg_consistency;
      const auto start = std::chrono::steady_clock::now();
      ASSIGN_OR_RETURN(pipeline::RestoreResult result, c.restorer.Restore(lq, restore));
      Sums& s = by_mode[ModeName(options.modes[i])];
      s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      s.megapixels += megapixels;
      ASSIGN_OR_RETURN(double psnr, s.Add(d.reference, result.image, c.pristine));
      absl::StrAppend(&line, " ", ModeName(options.modes[i]), " ", std::round(psnr * 100) / 100);
    }
    if (options.estimate_qf) {
      // The decoded pixels re-saved as PNG: CaVE sees no quantisation table.
      image::EncodeOptions png;
      png.format = image::ImageFormat::kPng;
      ASSIGN_OR_RETURN(std::string png_bytes, image::EncodeImage(lq.rgb, png));
      ASSIGN_OR_RETURN(image::DecodedImage resaved, image::DecodeImage(png_bytes));
      ASSIGN_OR_RETURN(float predicted, c.restorer.EstimateQf(resaved));
      qf_abs_error += std::abs(predicted - d.qf);
      qf_sum += predicted;
      absl::StrAppend(&line, " qf_pred ", std::round(predicted * 10) / 10);
    }
    if (!options.spp_qps.empty()) {
      const std::string jpeg_path = c.scratch + "/in.jpg";
      RETURN_IF_ERROR(WriteFile(jpeg_path, d.jpeg));
      for (int qp : options.spp_qps) {
        ASSIGN_OR_RETURN(image::Image filtered,
                         RunSpp(options, jpeg_path, qp, c.scratch + "/out.png"));
        // NIQE only for the qp that wins (below): scoring every qp of a sweep
        // would cost more than the sweep.
        RETURN_IF_ERROR(spp[qp].Add(d.reference, filtered, nullptr).status());
      }
    }
    if (options.progress) std::fprintf(stderr, "%s\n", line.c_str());
  }
  nlohmann::json entry = {{"jpeg", jpeg.Json(false)}};
  for (const auto& [mode, s] : by_mode) entry[mode] = s.Json(true);
  if (!spp.empty()) {
    int best = spp.begin()->first;
    nlohmann::json all = nlohmann::json::object();
    for (const auto& [qp, s] : spp) {
      all[std::to_string(qp)] = s.psnr / s.n;
      if (s.psnr > spp.at(best).psnr) best = qp;
    }
    entry["spp"] = spp.at(best).Json(false);
    entry["spp"]["qp"] = best;
    entry["spp"]["psnr_by_qp"] = all;
    if (c.pristine != nullptr) {
      // The winning qp again, for its NIQE.
      Sums at_best;
      const std::string jpeg_path = c.scratch + "/in.jpg";
      for (const std::string& f : c.files) {
        ASSIGN_OR_RETURN(image::Image hq, ReadRgbImage(f));
        ASSIGN_OR_RETURN(Degraded d, degrade(hq));
        RETURN_IF_ERROR(WriteFile(jpeg_path, d.jpeg));
        ASSIGN_OR_RETURN(image::Image filtered,
                         RunSpp(options, jpeg_path, best, c.scratch + "/out.png"));
        RETURN_IF_ERROR(at_best.Add(d.reference, filtered, c.pristine).status());
      }
      if (at_best.niqe_n > 0) entry["spp"]["niqe"] = at_best.niqe / at_best.niqe_n;
    }
  }
  if (options.estimate_qf) {
    entry["qf_estimate"] = {{"mae", qf_abs_error / c.files.size()},
                            {"mean", qf_sum / c.files.size()}};
  }
  return entry;
}

absl::StatusOr<std::string> Jpeg(const image::Image& rgb, int qf) {
  image::EncodeOptions encode;
  encode.format = image::ImageFormat::kJpeg;
  encode.quality = qf;
  return image::EncodeImage(rgb, encode);
}

image::Image CropTopLeft(const image::Image& in, int shift) {
  image::Image out(in.width - shift, in.height - shift, in.channels);
  const size_t row = static_cast<size_t>(out.width) * in.channels;
  for (int y = 0; y < out.height; ++y) {
    std::copy_n(&in.data[in.index(shift, y + shift)], row, &out.data[out.index(0, y)]);
  }
  return out;
}

absl::StatusOr<nlohmann::json> EvalImpl(const EvalOptions& options) {
  torch::set_num_threads(options.threads);
  std::vector<pipeline::RestoreMode> modes;
  for (const std::string& m : options.modes) {
    ASSIGN_OR_RETURN(pipeline::RestoreMode mode, ParseMode(m));
    modes.push_back(mode);
  }
  ASSIGN_OR_RETURN(std::optional<pipeline::ColorFix> color_fix, ParseColorFix(options.color_fix));
  if (options.double_jpeg_shift < 0 || options.double_jpeg_shift > 64) {
    return absl::InvalidArgumentError("double_jpeg_shift must be in 0..64");
  }
  std::optional<metrics::NiqeModel> pristine;
  if (!options.niqe_model.empty()) {
    ASSIGN_OR_RETURN(pristine, metrics::ReadNiqeModel(options.niqe_model));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<pipeline::Restorer> restorer,
                   pipeline::Restorer::FromModelFolder(options.model_dir, {}));
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListImageFiles({options.data_dir}));
  if (files.empty()) return absl::NotFoundError("no images in " + options.data_dir);
  if (options.max_images > 0 && static_cast<int>(files.size()) > options.max_images) {
    files.resize(options.max_images);
  }
  const std::string scratch =
      (fs::temp_directory_path() / absl::StrCat("codiff-eval-", getpid())).string();
  if (!options.spp_qps.empty()) fs::create_directories(scratch);
  const EvalContext context{
      options, modes, color_fix, *restorer, files, pristine ? &*pristine : nullptr, scratch};

  nlohmann::json report = nlohmann::json::object();
  for (int qf : options.qfs) {
    auto entry = EvalCondition(context, std::to_string(qf),
                               [qf](const image::Image& hq) -> absl::StatusOr<Degraded> {
                                 ASSIGN_OR_RETURN(std::string bytes, Jpeg(hq, qf));
                                 return Degraded{hq, std::move(bytes), qf};
                               });
    if (!entry.ok()) return entry.status();
    report[std::to_string(qf)] = *std::move(entry);
  }
  if (!options.double_jpeg.empty()) {
    const int shift = options.double_jpeg_shift;
    nlohmann::json doubles = nlohmann::json::object();
    for (const auto& [qf1, qf2] : options.double_jpeg) {
      const std::string label = absl::StrCat(qf1, ":", qf2);
      auto entry = EvalCondition(
          context, label,
          [qf1 = qf1, qf2 = qf2, shift](const image::Image& hq) -> absl::StatusOr<Degraded> {
            if (hq.width <= shift + 8 || hq.height <= shift + 8) {
              return absl::InvalidArgumentError("image too small for the double-JPEG shift");
            }
            ASSIGN_OR_RETURN(std::string first, Jpeg(hq, qf1));
            ASSIGN_OR_RETURN(image::DecodedImage once, image::DecodeImage(first));
            ASSIGN_OR_RETURN(std::string second, Jpeg(CropTopLeft(once.rgb, shift), qf2));
            return Degraded{CropTopLeft(hq, shift), std::move(second), qf2};
          });
      if (!entry.ok()) return entry.status();
      doubles[label] = *std::move(entry);
    }
    doubles["shift"] = shift;
    report["double_jpeg"] = doubles;
  }
  if (!options.spp_qps.empty()) fs::remove_all(scratch);
  report["images"] = files.size();
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
