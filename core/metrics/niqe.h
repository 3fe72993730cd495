// NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan and Bovik,
// "Making a 'Completely Blind' Image Quality Analyzer", IEEE SPL 2013): a
// no-reference score, lower is more natural. No pretrained network: the
// "pristine model" is a multivariate Gaussian fitted to patch statistics of
// sharp patches of lossless photos (ours: the training photos, see
// training/niqe/).
//
// As published (and as the authors' MATLAB release computes it):
//   - grey image (MATLAB rgb2gray, rounded to 8 bits), cropped to a multiple
//     of the 96 x 96 patch size;
//   - MSCN coefficients (I - mu) / (sigma + 1), mu and sigma from a 7 x 7
//     Gaussian window with sigma 7/6 (normalised, replicated borders);
//   - per patch, 18 features: a GGD fitted to the MSCN coefficients (shape,
//     variance) and, for each of the 4 pairwise products of neighbours
//     (horizontal, vertical, main and anti diagonal; circular within the
//     patch as the release's circshift), an asymmetric GGD (shape, mean, left
//     variance, right variance); moment matching over shapes 0.2:0.001:10;
//   - the same 18 at a second scale: the image downscaled by 2 (MATLAB
//     imresize(0.5): bicubic with antialiasing, symmetric borders) in 48 x 48
//     patches on the same grid, so 36 features per patch;
//   - pristine model: patches whose mean sigma exceeds 0.75 of the image's
//     sharpest patch, over all photos; mean and sample covariance;
//   - the test image: all its patches, mean mu2 and covariance S2;
//     NIQE = sqrt((mu1 - mu2)^T pinv((S1 + S2) / 2) (mu1 - mu2)).
// The paper names GGD shape and variance, and AGGD shape, mean, left and
// right variance (BRISQUE's features); the MATLAB release uses an AGGD's mean
// scale for the first pair and scales instead of variances. This follows the
// paper. Scores are only comparable between images scored with the same
// pristine model.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/image/image.h"

namespace codiff::metrics {

inline constexpr int kNiqeFeaturesPerScale = 18;
inline constexpr int kNiqeFeatures = 2 * kNiqeFeaturesPerScale;
using NiqeFeatureVector = std::array<double, kNiqeFeatures>;

// Generalised Gaussian fit by moment matching (BRISQUE's estimateggdparam):
// shape alpha (2 for a Gaussian, 1 for a Laplacian) and variance E[x^2].
struct GgdFit {
  double shape = 0;
  double variance = 0;
};
GgdFit EstimateGgd(absl::Span<const double> samples);

// Asymmetric generalised Gaussian fit (BRISQUE's estimateaggdparam): shape,
// mean (beta_r - beta_l) Gamma(2/a) / Gamma(1/a), and the variances of the
// negative and positive samples (mean of x^2 on each side).
struct AggdFit {
  double shape = 0;
  double mean = 0;
  double left_variance = 0;
  double right_variance = 0;
};
AggdFit EstimateAggd(absl::Span<const double> samples);

struct NiqeOptions {
  int patch_size = 96;  // even; the second scale uses patch_size / 2
  // Pristine patches: mean local sigma above this share of the image's max.
  double sharpness_threshold = 0.75;
};

// The features of every patch (row-major over the patch grid) and each
// patch's sharpness (mean local sigma at the first scale). Rows may hold
// non-finite values (a flat patch has no shape); callers drop them.
struct NiqePatches {
  std::vector<NiqeFeatureVector> features;
  std::vector<double> sharpness;
};
// InvalidArgument for an image smaller than one patch or not grey/RGB.
absl::StatusOr<NiqePatches> ComputeNiqePatches(const image::Image& image,
                                               const NiqeOptions& options = NiqeOptions());

// The rows kept for the pristine model: sharpness above the threshold times
// the image's maximum, every feature finite.
std::vector<NiqeFeatureVector> SelectPristinePatches(const NiqePatches& patches,
                                                     const NiqeOptions& options = NiqeOptions());

// The multivariate Gaussian of a set of patches.
struct NiqeModel {
  std::vector<double> mean;        // kNiqeFeatures
  std::vector<double> covariance;  // kNiqeFeatures^2, row-major
  int patch_size = 96;
  double sharpness_threshold = 0.75;
  int64_t patches = 0;  // rows it was fitted on
  int64_t images = 0;   // images they came from
  std::string source;   // free text: what it was fitted on
};

// Mean and sample covariance (N - 1) of the rows; InvalidArgument for fewer
// than 2 rows.
absl::StatusOr<NiqeModel> FitNiqeModel(absl::Span<const NiqeFeatureVector> rows);

// NIQE of `image` against `pristine` (all of the image's patches with finite
// features; one patch gives a zero covariance). InvalidArgument when the image
// is smaller than one patch or no patch has finite features.
absl::StatusOr<double> Niqe(const image::Image& image, const NiqeModel& pristine);

// JSON file: {"format": "codiff-niqe/1", "patch_size", "sharpness_threshold",
// "features", "patches", "images", "source", "mean": [...], "covariance":
// [[...], ...]}.
std::string NiqeModelToJson(const NiqeModel& model);
absl::StatusOr<NiqeModel> NiqeModelFromJson(const std::string& text);
absl::StatusOr<NiqeModel> ReadNiqeModel(const std::string& path);
absl::Status WriteNiqeModel(const std::string& path, const NiqeModel& model);

// Moore-Penrose pseudo-inverse of a symmetric n x n matrix (row-major), by
// Jacobi eigen-decomposition; eigenvalues below n * eps * max|eigenvalue| are
// treated as zero (MATLAB pinv's tolerance).
std::vector<double> SymmetricPseudoInverse(const std::vector<double>& a, int n);

// MATLAB imresize(x, 0.5) of a w x h plane (bicubic, antialiased, symmetric
// borders); the output is (w + 1) / 2 x (h + 1) / 2.
std::vector<double> DownscaleByTwo(const std::vector<double>& plane, int w, int h);

}  // namespace codiff::metrics
