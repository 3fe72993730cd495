#include "core/metrics/niqe.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace codiff::metrics {
namespace {

constexpr char kFormat[] = "codiff-niqe/1";
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// Shapes 0.2:0.001:10 and the moment ratios moment matching compares with.
struct ShapeTable {
  std::vector<double> shape;
  std::vector<double> ggd_ratio;   // Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2
  std::vector<double> aggd_ratio;  // Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))
};

const ShapeTable& Shapes() {
  static const ShapeTable* table = [] {
    auto* t = new ShapeTable;
    for (int i = 0; i <= 9800; ++i) {
      const double a = 0.2 + 0.001 * i;
      const double g1 = std::tgamma(1 / a), g2 = std::tgamma(2 / a), g3 = std::tgamma(3 / a);
      t->shape.push_back(a);
      t->ggd_ratio.push_back(g1 * g3 / (g2 * g2));
      t->aggd_ratio.push_back(g2 * g2 / (g1 * g3));
    }
    return t;
  }();
  return *table;
}

// The first shape whose ratio is nearest `target` (MATLAB min's tie rule).
double NearestShape(const std::vector<double>& ratios, double target) {
  if (!std::isfinite(target)) return kNan;
  const ShapeTable& t = Shapes();
  size_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < ratios.size(); ++i) {
    const double d = std::abs(ratios[i] - target);
    if (d < best_d) {
      best_d = d;
      best = i;
    }
  }
  return t.shape[best];
}

// MATLAB rgb2gray on uint8: rounded weighted sum.
std::vector<double> GreyPlane(const image::Image& im) {
  const size_t n = static_cast<size_t>(im.width) * im.height;
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (im.channels == 1) {
      out[i] = im.data[i];
    } else {
      const uint8_t* p = &im.data[i * im.channels];
      out[i] = std::round(0.298936021293775 * p[0] + 0.587043074451121 * p[1] +
                          0.114020904255103 * p[2]);
    }
  }
  return out;
}

// 7 x 7 Gaussian, sigma 7/6, normalised; separable with replicated borders
// (imfilter 'replicate').
std::vector<double> GaussianBlur7(const std::vector<double>& in, int w, int h) {
  static const std::array<double, 7> taps = [] {
    std::array<double, 7> t{};
    double sum = 0;
    const double s = 7.0 / 6.0;
    for (int i = -3; i <= 3; ++i) sum += t[i + 3] = std::exp(-0.5 * i * i / (s * s));
    for (double& x : t) x /= sum;
    return t;
  }();
  std::vector<double> tmp(in.size()), out(in.size());
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (int k = -3; k <= 3; ++k) {
        const int yy = std::clamp(y + k, 0, h - 1);
        s += taps[k + 3] * in[static_cast<size_t>(yy) * w + x];
      }
      tmp[static_cast<size_t>(y) * w + x] = s;
    }
  }
  for (int y = 0; y < h; ++y) {
    const double* row = &tmp[static_cast<size_t>(y) * w];
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (int k = -3; k <= 3; ++k) s += taps[k + 3] * row[std::clamp(x + k, 0, w - 1)];
      out[static_cast<size_t>(y) * w + x] = s;
    }
  }
  return out;
}

// MSCN coefficients and the local sigma of a plane.
void Mscn(const std::vector<double>& im, int w, int h, std::vector<double>* mscn,
          std::vector<double>* sigma) {
  std::vector<double> sq(im.size());
  for (size_t i = 0; i < im.size(); ++i) sq[i] = im[i] * im[i];
  const std::vector<double> mu = GaussianBlur7(im, w, h);
  const std::vector<double> mu_sq = GaussianBlur7(sq, w, h);
  mscn->resize(im.size());
  sigma->resize(im.size());
  for (size_t i = 0; i < im.size(); ++i) {
    (*sigma)[i] = std::sqrt(std::abs(mu_sq[i] - mu[i] * mu[i]));
    (*mscn)[i] = (im[i] - mu[i]) / ((*sigma)[i] + 1);
  }
}

// The 18 features of one patch of MSCN coefficients starting at (x0, y0).
void PatchFeatures(const std::vector<double>& mscn, int w, int x0, int y0, int size, double* out) {
  std::vector<double> patch(static_cast<size_t>(size) * size);
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      patch[static_cast<size_t>(y) * size + x] = mscn[static_cast<size_t>(y0 + y) * w + x0 + x];
    }
  }
  const GgdFit g = EstimateGgd(patch);
  out[0] = g.shape;
  out[1] = g.variance;
  // circshift(structdis, [dy dx]): the neighbour at (y - dy, x - dx), wrapped.
  constexpr int kShifts[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};
  std::vector<double> pair(patch.size());
  for (int s = 0; s < 4; ++s) {
    for (int y = 0; y < size; ++y) {
      const int ys = (y - kShifts[s][0] + size) % size;
      for (int x = 0; x < size; ++x) {
        const int xs = (x - kShifts[s][1] + size) % size;
        pair[static_cast<size_t>(y) * size + x] =
            patch[static_cast<size_t>(y) * size + x] * patch[static_cast<size_t>(ys) * size + xs];
      }
    }
    const AggdFit a = EstimateAggd(pair);
    out[2 + 4 * s] = a.shape;
    out[3 + 4 * s] = a.mean;
    out[4 + 4 * s] = a.left_variance;
    out[5 + 4 * s] = a.right_variance;
  }
}

double Cubic(double x) {
  const double ax = std::abs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

// MATLAB imresize's contributions for scale 0.5 along a dimension of length n.
struct Contributions {
  std::vector<std::vector<int>> index;
  std::vector<std::vector<double>> weight;
};
Contributions HalfScaleContributions(int n) {
  constexpr double kScale = 0.5;
  constexpr double kWidth = 4 / kScale;  // bicubic support 4, widened to antialias
  const int out_n = (n + 1) / 2;
  Contributions c;
  for (int i = 1; i <= out_n; ++i) {
    const double u = i / kScale + 0.5 * (1 - 1 / kScale);
    const int left = static_cast<int>(std::floor(u - kWidth / 2));
    const int taps = static_cast<int>(std::ceil(kWidth)) + 2;
    std::vector<int> idx;
    std::vector<double> wt;
    double sum = 0;
    for (int k = 0; k < taps; ++k) {
      const int j = left + k;  // 1-based
      const double wk = kScale * Cubic(kScale * (u - j));
      // Symmetric padding: 1..n, n..1, repeated.
      int m = (j - 1) % (2 * n);
      if (m < 0) m += 2 * n;
      idx.push_back(m < n ? m : 2 * n - 1 - m);
      wt.push_back(wk);
      sum += wk;
    }
    for (double& x : wt) x /= sum;
    c.index.push_back(std::move(idx));
    c.weight.push_back(std::move(wt));
  }
  return c;
}

}  // namespace

GgdFit EstimateGgd(absl::Span<const double> samples) {
  double sq = 0, abs_sum = 0;
  for (double x : samples) {
    sq += x * x;
    abs_sum += std::abs(x);
  }
  const double n = static_cast<double>(samples.size());
  GgdFit fit;
  fit.variance = n > 0 ? sq / n : kNan;
  const double e = n > 0 ? abs_sum / n : kNan;
  fit.shape = NearestShape(Shapes().ggd_ratio, fit.variance / (e * e));
  return fit;
}

AggdFit EstimateAggd(absl::Span<const double> samples) {
  double left_sq = 0, right_sq = 0, abs_sum = 0, sq = 0;
  int64_t left_n = 0, right_n = 0;
  for (double x : samples) {
    if (x < 0) {
      left_sq += x * x;
      ++left_n;
    } else if (x > 0) {
      right_sq += x * x;
      ++right_n;
    }
    abs_sum += std::abs(x);
    sq += x * x;
  }
  AggdFit fit;
  const double n = static_cast<double>(samples.size());
  fit.left_variance = left_n > 0 ? left_sq / left_n : kNan;
  fit.right_variance = right_n > 0 ? right_sq / right_n : kNan;
  const double left_std = std::sqrt(fit.left_variance);
  const double right_std = std::sqrt(fit.right_variance);
  const double gamma_hat = left_std / right_std;
  const double mean_abs = abs_sum / n;
  const double r_hat = mean_abs * mean_abs / (sq / n);
  const double g2 = gamma_hat * gamma_hat;
  const double r_norm = r_hat * (g2 * gamma_hat + 1) * (gamma_hat + 1) / ((g2 + 1) * (g2 + 1));
  fit.shape = NearestShape(Shapes().aggd_ratio, r_norm);
  if (!std::isfinite(fit.shape)) {
    fit.mean = kNan;
    return fit;
  }
  const double a = fit.shape;
  const double to_beta = std::sqrt(std::tgamma(1 / a) / std::tgamma(3 / a));
  fit.mean = (right_std - left_std) * to_beta * std::tgamma(2 / a) / std::tgamma(1 / a);
  return fit;
}

std::vector<double> DownscaleByTwo(const std::vector<double>& plane, int w, int h) {
  // Both scales are equal, so MATLAB resizes rows (dimension 1) first.
  const Contributions cy = HalfScaleContributions(h);
  const Contributions cx = HalfScaleContributions(w);
  const int oh = (h + 1) / 2, ow = (w + 1) / 2;
  std::vector<double> tmp(static_cast<size_t>(oh) * w), out(static_cast<size_t>(oh) * ow);
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (size_t k = 0; k < cy.index[y].size(); ++k) {
        s += cy.weight[y][k] * plane[static_cast<size_t>(cy.index[y][k]) * w + x];
      }
      tmp[static_cast<size_t>(y) * w + x] = s;
    }
  }
  for (int y = 0; y < oh; ++y) {
    for (int x = 0; x < ow; ++x) {
      double s = 0;
      for (size_t k = 0; k < cx.index[x].size(); ++k) {
        s += cx.weight[x][k] * tmp[static_cast<size_t>(y) * w + cx.index[x][k]];
      }
      out[static_cast<size_t>(y) * ow + x] = s;
    }
  }
  return out;
}

absl::StatusOr<NiqePatches> ComputeNiqePatches(const image::Image& image,
                                               const NiqeOptions& options) {
  if ((image.channels != 1 && image.channels != 3) ||
      image.data.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    return absl::InvalidArgumentError("NIQE: the image must be grey or RGB (drop alpha first)");
  }
  const int p = options.patch_size;
  if (p < 8 || p % 2 != 0) return absl::InvalidArgumentError("NIQE: patch size must be even, >= 8");
  const int cols = image.width / p, rows = image.height / p;
  if (cols < 1 || rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat("NIQE: the image (", image.width, "x",
                                                   image.height, ") is smaller than one ", p, "x",
                                                   p, " patch"));
  }
  // Crop to whole patches (top-left), as the reference does.
  const std::vector<double> full = GreyPlane(image);
  int w = cols * p, h = rows * p;
  std::vector<double> plane(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    std::copy_n(&full[static_cast<size_t>(y) * image.width], w, &plane[static_cast<size_t>(y) * w]);
  }
  NiqePatches out;
  out.features.assign(static_cast<size_t>(rows) * cols, NiqeFeatureVector{});
  out.sharpness.assign(out.features.size(), 0.0);
  std::vector<double> mscn, sigma;
  for (int scale = 0; scale < 2; ++scale) {
    const int ps = p >> scale;
    Mscn(plane, w, h, &mscn, &sigma);
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        const size_t i = static_cast<size_t>(r) * cols + c;
        PatchFeatures(mscn, w, c * ps, r * ps, ps,
                      out.features[i].data() + scale * kNiqeFeaturesPerScale);
        if (scale == 0) {
          double s = 0;
          for (int y = 0; y < ps; ++y) {
            for (int x = 0; x < ps; ++x)
              s += sigma[static_cast<size_t>(r * ps + y) * w + c * ps + x];
          }
          out.sharpness[i] = s / (static_cast<double>(ps) * ps);
        }
      }
    }
    if (scale == 0) {
      plane = DownscaleByTwo(plane, w, h);
      w /= 2;
      h /= 2;
    }
  }
  return out;
}

namespace {
bool AllFinite(const NiqeFeatureVector& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}
}  // namespace

std::vector<NiqeFeatureVector> SelectPristinePatches(const NiqePatches& patches,
                                                     const NiqeOptions& options) {
  double max_sharpness = 0;
  for (double s : patches.sharpness) max_sharpness = std::max(max_sharpness, s);
  std::vector<NiqeFeatureVector> out;
  for (size_t i = 0; i < patches.features.size(); ++i) {
    if (patches.sharpness[i] > options.sharpness_threshold * max_sharpness &&
        AllFinite(patches.features[i])) {
      out.push_back(patches.features[i]);
    }
  }
  return out;
}

namespace {
// Mean and covariance (N - 1; zero for one row) of finite rows.
void MeanCovariance(absl::Span<const NiqeFeatureVector> rows, std::vector<double>* mean,
                    std::vector<double>* cov) {
  constexpr int d = kNiqeFeatures;
  mean->assign(d, 0.0);
  cov->assign(static_cast<size_t>(d) * d, 0.0);
  const double n = static_cast<double>(rows.size());
  for (const auto& r : rows) {
    for (int i = 0; i < d; ++i) (*mean)[i] += r[i] / n;
  }
  if (rows.size() < 2) return;
  for (const auto& r : rows) {
    for (int i = 0; i < d; ++i) {
      const double di = r[i] - (*mean)[i];
      for (int j = i; j < d; ++j)
        (*cov)[static_cast<size_t>(i) * d + j] += di * (r[j] - (*mean)[j]);
    }
  }
  for (int i = 0; i < d; ++i) {
    for (int j = i; j < d; ++j) {
      double& v = (*cov)[static_cast<size_t>(i) * d + j];
      v /= n - 1;
      (*cov)[static_cast<size_t>(j) * d + i] = v;
    }
  }
}
}  // namespace

absl::StatusOr<NiqeModel> FitNiqeModel(absl::Span<const NiqeFeatureVector> rows) {
  if (rows.size() < 2) {
    return absl::InvalidArgumentError("NIQE: a pristine model needs at least 2 patches");
  }
  for (const auto& r : rows) {
    if (!AllFinite(r)) return absl::InvalidArgumentError("NIQE: a patch has non-finite features");
  }
  NiqeModel m;
  MeanCovariance(rows, &m.mean, &m.covariance);
  m.patches = static_cast<int64_t>(rows.size());
  return m;
}

std::vector<double> SymmetricPseudoInverse(const std::vector<double>& a_in, int n) {
  // Cyclic Jacobi: A = V diag(e) V^T.
  std::vector<double> a = a_in, v(static_cast<size_t>(n) * n, 0.0);
  auto at = [n](std::vector<double>& m, int i, int j) -> double& {
    return m[static_cast<size_t>(i) * n + j];
  };
  for (int i = 0; i < n; ++i) at(v, i, i) = 1;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0, total = 0;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        total += at(a, i, j) * at(a, i, j);
        if (i != j) off += at(a, i, j) * at(a, i, j);
      }
    }
    if (off <= 1e-30 * total || off == 0) break;
    for (int p = 0; p < n - 1; ++p) {
      for (int q = p + 1; q < n; ++q) {
        const double apq = at(a, p, q);
        if (apq == 0) continue;
        const double theta = (at(a, q, q) - at(a, p, p)) / (2 * apq);
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // columns p, q
          const double akp = at(a, k, p), akq = at(a, k, q);
          at(a, k, p) = c * akp - s * akq;
          at(a, k, q) = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          const double apk = at(a, p, k), aqk = at(a, q, k);
          at(a, p, k) = c * apk - s * aqk;
          at(a, q, k) = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = at(v, k, p), vkq = at(v, k, q);
          at(v, k, p) = c * vkp - s * vkq;
          at(v, k, q) = s * vkp + c * vkq;
        }
      }
    }
  }
  double max_abs = 0;
  for (int i = 0; i < n; ++i) max_abs = std::max(max_abs, std::abs(at(a, i, i)));
  const double tol = n * std::numeric_limits<double>::epsilon() * max_abs;
  std::vector<double> out(static_cast<size_t>(n) * n, 0.0);
  for (int k = 0; k < n; ++k) {
    const double e = at(a, k, k);
    if (std::abs(e) <= tol) continue;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) at(out, i, j) += at(v, i, k) * at(v, j, k) / e;
    }
  }
  return out;
}

absl::StatusOr<double> Niqe(const image::Image& image, const NiqeModel& pristine) {
  constexpr int d = kNiqeFeatures;
  if (pristine.mean.size() != static_cast<size_t>(d) ||
      pristine.covariance.size() != static_cast<size_t>(d) * d) {
    return absl::InvalidArgumentError("NIQE: the pristine model is not 36-dimensional");
  }
  NiqeOptions options;
  options.patch_size = pristine.patch_size;
  auto patches = ComputeNiqePatches(image, options);
  if (!patches.ok()) return patches.status();
  std::vector<NiqeFeatureVector> rows;
  for (const auto& f : patches->features) {
    if (AllFinite(f)) rows.push_back(f);
  }
  if (rows.empty()) {
    return absl::InvalidArgumentError("NIQE: no patch of the image has finite features (flat?)");
  }
  std::vector<double> mean, cov;
  MeanCovariance(rows, &mean, &cov);
  for (size_t i = 0; i < cov.size(); ++i) cov[i] = (cov[i] + pristine.covariance[i]) / 2;
  const std::vector<double> inv = SymmetricPseudoInverse(cov, d);
  double q = 0;
  for (int i = 0; i < d; ++i) {
    const double di = pristine.mean[i] - mean[i];
    for (int j = 0; j < d; ++j)
      q += di * inv[static_cast<size_t>(i) * d + j] * (pristine.mean[j] - mean[j]);
  }
  return std::sqrt(std::max(q, 0.0));
}

std::string NiqeModelToJson(const NiqeModel& model) {
  constexpr int d = kNiqeFeatures;
  nlohmann::json cov = nlohmann::json::array();
  for (int i = 0; i < d; ++i) {
    cov.push_back(
        std::vector<double>(model.covariance.begin() + static_cast<ptrdiff_t>(i) * d,
                            model.covariance.begin() + static_cast<ptrdiff_t>(i + 1) * d));
  }
  nlohmann::json j = {{"format", kFormat},
                      {"patch_size", model.patch_size},
                      {"sharpness_threshold", model.sharpness_threshold},
                      {"features", d},
                      {"patches", model.patches},
                      {"images", model.images},
                      {"source", model.source},
                      {"mean", model.mean},
                      {"covariance", cov}};
  return j.dump(1) + "\n";
}

absl::StatusOr<NiqeModel> NiqeModelFromJson(const std::string& text) {
  constexpr int d = kNiqeFeatures;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("NIQE model: not a JSON object");
  }
  try {
    if (j.value("format", std::string()) != kFormat) {
      return absl::InvalidArgumentError(absl::StrCat("NIQE model: format is not ", kFormat));
    }
    NiqeModel m;
    m.patch_size = j.at("patch_size").get<int>();
    m.sharpness_threshold = j.at("sharpness_threshold").get<double>();
    m.patches = j.value("patches", int64_t{0});
    m.images = j.value("images", int64_t{0});
    m.source = j.value("source", std::string());
    m.mean = j.at("mean").get<std::vector<double>>();
    const auto& cov = j.at("covariance");
    if (m.mean.size() != static_cast<size_t>(d) || !cov.is_array() ||
        cov.size() != static_cast<size_t>(d)) {
      return absl::InvalidArgumentError("NIQE model: mean and covariance must be 36-dimensional");
    }
    for (const auto& row : cov) {
      auto r = row.get<std::vector<double>>();
      if (r.size() != static_cast<size_t>(d)) {
        return absl::InvalidArgumentError("NIQE model: covariance rows must have 36 values");
      }
      m.covariance.insert(m.covariance.end(), r.begin(), r.end());
    }
    if (m.patch_size < 8 || m.patch_size % 2 != 0) {
      return absl::InvalidArgumentError("NIQE model: patch_size must be even, >= 8");
    }
    return m;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("NIQE model: ", e.what()));
  }
}

absl::StatusOr<NiqeModel> ReadNiqeModel(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read NIQE model " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = NiqeModelFromJson(ss.str());
  if (!m.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", m.status().message()));
  return m;
}

absl::Status WriteNiqeModel(const std::string& path, const NiqeModel& model) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << NiqeModelToJson(model);
  if (!out) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

}  // namespace codiff::metrics
