#include "core/metrics/quality_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace codiff::metrics {
namespace {

using image::Image;

struct Plane {
  int width = 0;
  int height = 0;
  std::vector<double> v;
  double at(int x, int y) const { return v[static_cast<size_t>(y) * width + x]; }
};

absl::Status CheckPair(const Image& a, const Image& b, int min_side, const char* metric) {
  for (const Image* im : {&a, &b}) {
    if ((im->channels != 1 && im->channels != 3) ||
        im->data.size() != static_cast<size_t>(im->width) * im->height * im->channels) {
      return absl::InvalidArgumentError(
          absl::StrCat(metric, ": images must be grey or RGB (drop alpha first)"));
    }
  }
  if (a.width != b.width || a.height != b.height || a.channels != b.channels) {
    return absl::InvalidArgumentError(
        absl::StrCat(metric, ": images differ in size or channel count (", a.width, "x", a.height,
                     "x", a.channels, " vs ", b.width, "x", b.height, "x", b.channels, ")"));
  }
  if (a.width < min_side || a.height < min_side) {
    return absl::InvalidArgumentError(
        absl::StrCat(metric, ": images must be at least ", min_side, " pixels on each side"));
  }
  return absl::OkStatus();
}

std::vector<Plane> Planes(const Image& im, const MetricOptions& options) {
  std::vector<Plane> out;
  if (options.channels == MetricChannels::kY) {
    out.push_back({im.width, im.height, LumaPlane(im, options.round_luma)});
    return out;
  }
  const size_t n = static_cast<size_t>(im.width) * im.height;
  for (int c = 0; c < im.channels; ++c) {
    Plane p{im.width, im.height, std::vector<double>(n)};
    for (size_t i = 0; i < n; ++i) p.v[i] = im.data[i * im.channels + c];
    out.push_back(std::move(p));
  }
  return out;
}

double SquaredError(const Plane& a, const Plane& b) {
  double s = 0;
  for (size_t i = 0; i < a.v.size(); ++i) {
    const double d = a.v[i] - b.v[i];
    s += d * d;
  }
  return s;
}

double PsnrFromMse(double mse) {
  if (mse <= 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

// scipy.ndimage 'reflect' (half-sample symmetric), valid for any offset.
int Reflect(int i, int n) {
  const int period = 2 * n;
  int m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - 1 - m;
}

constexpr int kRadius = 5;  // int(3.5 * 1.5 + 0.5): skimage's truncate=3.5.

std::array<double, 2 * kRadius + 1> GaussianTaps() {
  std::array<double, 2 * kRadius + 1> w{};
  double sum = 0;
  for (int i = -kRadius; i <= kRadius; ++i) {
    w[i + kRadius] = std::exp(-0.5 * i * i / (1.5 * 1.5));
    sum += w[i + kRadius];
  }
  for (double& x : w) x /= sum;
  return w;
}

// Separable Gaussian filter, rows (axis 0) first as scipy does.
std::vector<double> Blur(const std::vector<double>& in, int w, int h) {
  static const auto taps = GaussianTaps();
  std::vector<double> tmp(in.size()), out(in.size());
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (int k = -kRadius; k <= kRadius; ++k) {
        s += taps[k + kRadius] * in[static_cast<size_t>(Reflect(y + k, h)) * w + x];
      }
      tmp[static_cast<size_t>(y) * w + x] = s;
    }
  }
  for (int y = 0; y < h; ++y) {
    const double* row = &tmp[static_cast<size_t>(y) * w];
    for (int x = 0; x < w; ++x) {
      double s = 0;
      for (int k = -kRadius; k <= kRadius; ++k) s += taps[k + kRadius] * row[Reflect(x + k, w)];
      out[static_cast<size_t>(y) * w + x] = s;
    }
  }
  return out;
}

double SsimPlane(const Plane& a, const Plane& b) {
  const int w = a.width, h = a.height;
  const size_t n = a.v.size();
  std::vector<double> aa(n), bb(n), ab(n);
  for (size_t i = 0; i < n; ++i) {
    aa[i] = a.v[i] * a.v[i];
    bb[i] = b.v[i] * b.v[i];
    ab[i] = a.v[i] * b.v[i];
  }
  const auto ux = Blur(a.v, w, h), uy = Blur(b.v, w, h);
  const auto uxx = Blur(aa, w, h), uyy = Blur(bb, w, h), uxy = Blur(ab, w, h);
  const double c1 = (0.01 * 255) * (0.01 * 255);
  const double c2 = (0.03 * 255) * (0.03 * 255);
  double sum = 0;
  for (int y = kRadius; y < h - kRadius; ++y) {
    for (int x = kRadius; x < w - kRadius; ++x) {
      const size_t i = static_cast<size_t>(y) * w + x;
      const double vx = uxx[i] - ux[i] * ux[i];
      const double vy = uyy[i] - uy[i] * uy[i];
      const double vxy = uxy[i] - ux[i] * uy[i];
      const double num = (2 * ux[i] * uy[i] + c1) * (2 * vxy + c2);
      const double den = (ux[i] * ux[i] + uy[i] * uy[i] + c1) * (vx + vy + c2);
      sum += num / den;
    }
  }
  return sum / (static_cast<double>(w - 2 * kRadius) * (h - 2 * kRadius));
}

// Blocking effect factor of one plane, in squared 0..255 units.
double BlockingEffectFactor(const Plane& p) {
  constexpr int kBlock = 8;
  const int w = p.width, h = p.height;
  double boundary = 0, nonboundary = 0;
  // Horizontal neighbours (x, x+1) and vertical neighbours (y, y+1); the pair
  // straddles a block edge when x % 8 == 7.
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x + 1 < w; ++x) {
      const double d = p.at(x, y) - p.at(x + 1, y);
      (x % kBlock == kBlock - 1 ? boundary : nonboundary) += d * d;
    }
  }
  for (int y = 0; y + 1 < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double d = p.at(x, y) - p.at(x, y + 1);
      (y % kBlock == kBlock - 1 ? boundary : nonboundary) += d * d;
    }
  }
  const double n_boundary_h = static_cast<double>(h) * (w / kBlock - 1);
  const double n_boundary_v = static_cast<double>(w) * (h / kBlock - 1);
  const double n_nonboundary_h = static_cast<double>(h) * (w - 1) - n_boundary_h;
  const double n_nonboundary_v = static_cast<double>(w) * (h - 1) - n_boundary_v;
  const double db = boundary / (n_boundary_h + n_boundary_v);
  const double dbc = nonboundary / (n_nonboundary_h + n_nonboundary_v);
  if (db <= dbc) return 0.0;
  const double eta = std::log2(static_cast<double>(kBlock)) / std::log2(std::min(w, h));
  return eta * (db - dbc);
}

}  // namespace

std::vector<double> LumaPlane(const Image& image, bool round_luma) {
  const size_t n = static_cast<size_t>(image.width) * image.height;
  std::vector<double> y(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* px = &image.data[i * image.channels];
    const double r = px[0];
    const double g = image.channels >= 3 ? px[1] : px[0];
    const double b = image.channels >= 3 ? px[2] : px[0];
    const double v = 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0;
    y[i] = round_luma ? std::round(v) : v;
  }
  return y;
}

absl::StatusOr<double> Psnr(const Image& reference, const Image& test,
                            const MetricOptions& options) {
  RETURN_IF_ERROR(CheckPair(reference, test, 1, "PSNR"));
  const auto a = Planes(reference, options), b = Planes(test, options);
  double se = 0;
  size_t count = 0;
  for (size_t c = 0; c < a.size(); ++c) {
    se += SquaredError(a[c], b[c]);
    count += a[c].v.size();
  }
  return PsnrFromMse(se / static_cast<double>(count));
}

absl::StatusOr<double> Ssim(const Image& reference, const Image& test,
                            const MetricOptions& options) {
  RETURN_IF_ERROR(CheckPair(reference, test, 2 * kRadius + 1, "SSIM"));
  const auto a = Planes(reference, options), b = Planes(test, options);
  double sum = 0;
  for (size_t c = 0; c < a.size(); ++c) sum += SsimPlane(a[c], b[c]);
  return sum / static_cast<double>(a.size());
}

absl::StatusOr<double> PsnrB(const Image& reference, const Image& test,
                             const MetricOptions& options) {
  RETURN_IF_ERROR(CheckPair(reference, test, 16, "PSNR-B"));
  const auto a = Planes(reference, options), b = Planes(test, options);
  double sum = 0;
  for (size_t c = 0; c < a.size(); ++c) {
    const double mse = SquaredError(a[c], b[c]) / static_cast<double>(a[c].v.size());
    sum += PsnrFromMse(mse + BlockingEffectFactor(b[c]));
  }
  return sum / static_cast<double>(a.size());
}

}  // namespace codiff::metrics
