// Training pairs for CODiff: high-quality crops from image folders and their
// JPEG-degraded versions, synthesised on the fly with libjpeg (through core's
// encoder/decoder, so training sees exactly the codec the service sees).
//
// Every sample is a pure function of (seed, global sample index): the image,
// crop, augmentation, QF and grid shift are drawn from an RNG seeded with
// both, so batches are identical across runs, thread counts and resumes.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace codiff::training {

struct DegradationOptions {
  // "reference": 25% uniform in [8, 96], 75% from {10, 20, ..., 60} (the
  // public code); "uniform": uniform in [qf_min, qf_max] (the paper: 8..95);
  // "log_scale": libjpeg's quantizer scale log-uniform between those of
  // qf_max and qf_min, i.e. the same share of samples per doubling of the
  // quantization step. Over 5..95 that is 15% in 5..10 and 15% in 10..20
  // (uniform: 7% and 11%), where artifacts are worst, and 50% at 50 and up,
  // as uniform.
  std::string qf_mode = "reference";
  int qf_min = 8;
  int qf_max = 95;
  // Shift the crop by 0..7 px against the 8x8 JPEG grid (compress a larger
  // region, then cut), so the model never learns a fixed block phase.
  bool grid_shift = true;
  // Probability of compress -> shift by 1..7 px -> compress again (web
  // images are often re-saved); the label is the last QF.
  double double_jpeg_prob = 0.0;
  // Probability of encoding with an explicit table bank (jpeg_table_bank.h)
  // instead of the service's libjpeg-at-QF path: per-channel qualities
  // (chroma QF = luma QF +- chroma_qf_spread), every entry scaled by
  // exp(N(0, table_jitter)), and a subsampling drawn from `subsampling`
  // (empty: 4:2:0 only). Cameras, phones and editors quantise with tables
  // that are not libjpeg's at any quality; the label is the tables' nearest
  // libjpeg quality, as the header estimate reads it at serving time.
  double table_bank_prob = 0.0;
  int chroma_qf_spread = 0;
  double table_jitter = 0.0;
  std::vector<std::string> subsampling;
};

struct DataOptions {
  std::vector<std::string> dirs;
  int crop = 256;
  bool augment = true;  // flips and 90-degree rotations
  // Sources whose longer side exceeds this are downscaled first (INTER_AREA),
  // which also hides their own compression; 0 = never.
  int max_side = 0;
  int workers = 2;
  uint64_t seed = 0;
  // Keep decoded sources in memory (small data sets, tests).
  bool cache_sources = false;
  DegradationOptions degradation;
};

struct TrainingPair {
  image::Image hq;  // RGB, crop x crop
  image::Image lq;  // the same crop after JPEG
  int qf = 0;       // the (last) JPEG quality used
};

class PairDataset {
 public:
  static absl::StatusOr<std::unique_ptr<PairDataset>> Open(const DataOptions& options);
  ~PairDataset();

  size_t num_sources() const;
  const std::vector<std::string>& files() const;

  // The sample with this global index (deterministic).
  absl::StatusOr<TrainingPair> Sample(uint64_t index) const;
  // Samples [first, first + count) decoded by `workers` threads.
  absl::StatusOr<std::vector<TrainingPair>> Samples(uint64_t first, int count) const;

  const DataOptions& options() const { return options_; }

 private:
  explicit PairDataset(DataOptions options, std::vector<std::string> files);
  absl::StatusOr<image::Image> Source(size_t i) const;

  struct Cache;
  DataOptions options_;
  std::vector<std::string> files_;
  std::unique_ptr<Cache> cache_;
};

// Lists image files (png, jpg, jpeg, bmp, webp, tif, tiff) under each
// directory, recursively, sorted so the order does not depend on the
// filesystem.
absl::StatusOr<std::vector<std::string>> ListImageFiles(const std::vector<std::string>& dirs);

// Reads and decodes an image file to 8-bit RGB.
absl::StatusOr<image::Image> ReadRgbImage(const std::string& path);

// JPEG round trip at `quality` through core's encoder and decoder.
absl::StatusOr<image::Image> JpegRoundTrip(const image::Image& rgb, int quality);

// Draws a QF as DegradationOptions says.
int DrawQualityFactor(const DegradationOptions& options, std::mt19937_64& rng);

// The lowest and highest QF DrawQualityFactor can return.
std::pair<int, int> QualityFactorRange(const DegradationOptions& options);

}  // namespace codiff::training
