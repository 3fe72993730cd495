#include "training/data/pair_dataset.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/image/jpeg_header.h"
#include "core/util/status_macros.h"
#include "training/data/jpeg_table_bank.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;

bool IsImageFile(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* known : {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}) {
    if (ext == known) return true;
  }
  return false;
}

cv::Mat AsMat(const image::Image& img) {
  return cv::Mat(img.height, img.width, CV_8UC(img.channels),
                 const_cast<uint8_t*>(img.data.data()));
}

image::Image FromMat(const cv::Mat& mat) {
  cv::Mat m = mat.isContinuous() ? mat : mat.clone();
  image::Image out(m.cols, m.rows, m.channels());
  std::copy(m.data, m.data + out.data.size(), out.data.begin());
  return out;
}

image::Image CropImage(const image::Image& img, int x, int y, int w, int h) {
  return FromMat(AsMat(img)(cv::Rect(x, y, w, h)).clone());
}

// One of the 8 symmetries of the square: bit 0 flips horizontally, bit 1
// vertically, bit 2 transposes.
image::Image Dihedral(const image::Image& img, int mode) {
  cv::Mat m = AsMat(img).clone();
  if (mode & 1) cv::flip(m, m, 1);
  if (mode & 2) cv::flip(m, m, 0);
  if (mode & 4) cv::transpose(m, m);
  return FromMat(m);
}

// splitmix64: decorrelates (seed, index) into a well-mixed RNG seed.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

struct PairDataset::Cache {
  std::mutex mutex;
  std::unordered_map<size_t, image::Image> images;
};

absl::StatusOr<std::vector<std::string>> ListImageFiles(const std::vector<std::string>& dirs) {
  std::vector<std::string> files;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat("data directory not found: ", dir));
    }
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file() && IsImageFile(it->path())) files.push_back(it->path().string());
    }
    if (ec) return absl::InternalError(absl::StrCat("listing ", dir, ": ", ec.message()));
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) return absl::NotFoundError("no image files in the data directories");
  return files;
}

absl::StatusOr<image::Image> ReadRgbImage(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string data = bytes.str();
  image::ImageLimits limits;
  limits.max_pixels = int64_t{1} << 28;  // training sources may be large
  limits.max_bytes = int64_t{1} << 30;
  auto decoded = image::DecodeImage(data, limits);
  if (!decoded.ok()) {
    return absl::Status(decoded.status().code(),
                        absl::StrCat(path, ": ", decoded.status().message()));
  }
  return std::move(decoded->rgb);
}

absl::StatusOr<image::Image> JpegRoundTrip(const image::Image& rgb, int quality) {
  image::EncodeOptions options;
  options.format = image::ImageFormat::kJpeg;
  options.quality = std::clamp(quality, 1, 100);
  ASSIGN_OR_RETURN(std::string bytes, image::EncodeImage(rgb, options));
  ASSIGN_OR_RETURN(image::DecodedImage decoded, image::DecodeImage(bytes));
  return std::move(decoded.rgb);
}

std::pair<int, int> QualityFactorRange(const DegradationOptions& options) {
  if (options.qf_mode == "reference") return {8, 96};
  return {options.qf_min, options.qf_max};
}

int DrawQualityFactor(const DegradationOptions& options, std::mt19937_64& rng) {
  if (options.qf_mode == "reference") {
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    if (coin(rng) < 0.25) return std::uniform_int_distribution<int>(8, 96)(rng);
    return 10 * std::uniform_int_distribution<int>(1, 6)(rng);
  }
  if (options.qf_mode == "log_scale") {
    const double low = std::log(image::IjgQualityScale(options.qf_max));
    const double high = std::log(image::IjgQualityScale(options.qf_min));
    const double scale = std::exp(std::uniform_real_distribution<double>(low, high)(rng));
    const int qf = static_cast<int>(std::lround(image::IjgQualityForScale(scale)));
    return std::clamp(qf, options.qf_min, options.qf_max);
  }
  return std::uniform_int_distribution<int>(options.qf_min, options.qf_max)(rng);
}

absl::StatusOr<std::unique_ptr<PairDataset>> PairDataset::Open(const DataOptions& options) {
  if (options.crop < 32 || options.crop % 32 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("crop must be a positive multiple of 32 (CaVE), got ", options.crop));
  }
  const DegradationOptions& degradation = options.degradation;
  if (degradation.qf_mode != "reference" && degradation.qf_mode != "uniform" &&
      degradation.qf_mode != "log_scale") {
    return absl::InvalidArgumentError(absl::StrCat(
        "qf_mode must be 'reference', 'uniform' or 'log_scale', got '", degradation.qf_mode, "'"));
  }
  if (degradation.qf_mode != "reference" && (degradation.qf_min < 1 || degradation.qf_max > 100 ||
                                             degradation.qf_min > degradation.qf_max)) {
    return absl::InvalidArgumentError(
        absl::StrCat("qf_min and qf_max must satisfy 1 <= qf_min <= "
                     "qf_max <= 100, got ",
                     degradation.qf_min, " and ", degradation.qf_max));
  }
  for (const auto& [name, p] :
       {std::pair<const char*, double>{"double_jpeg_prob", degradation.double_jpeg_prob},
        {"table_bank_prob", degradation.table_bank_prob}}) {
    if (!(p >= 0.0 && p <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat(name, " must be in [0, 1], got ", p));
    }
  }
  if (degradation.chroma_qf_spread < 0 || degradation.chroma_qf_spread > 99) {
    return absl::InvalidArgumentError(
        absl::StrCat("chroma_qf_spread must be in [0, 99], got ", degradation.chroma_qf_spread));
  }
  if (!(degradation.table_jitter >= 0.0 && degradation.table_jitter <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("table_jitter must be in [0, 1], got ", degradation.table_jitter));
  }
  for (const std::string& s : degradation.subsampling) {
    if (s != "4:2:0" && s != "4:2:2" && s != "4:4:4") {
      return absl::InvalidArgumentError(
          absl::StrCat("subsampling entries must be 4:2:0, 4:2:2 or 4:4:4, got '", s, "'"));
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListImageFiles(options.dirs));
  return std::unique_ptr<PairDataset>(new PairDataset(options, std::move(files)));
}

PairDataset::PairDataset(DataOptions options, std::vector<std::string> files)
    : options_(std::move(options)), files_(std::move(files)), cache_(std::make_unique<Cache>()) {}

PairDataset::~PairDataset() = default;

size_t PairDataset::num_sources() const { return files_.size(); }
const std::vector<std::string>& PairDataset::files() const { return files_; }

absl::StatusOr<image::Image> PairDataset::Source(size_t i) const {
  if (options_.cache_sources) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->images.find(i);
    if (it != cache_->images.end()) return it->second;
  }
  ASSIGN_OR_RETURN(image::Image img, ReadRgbImage(files_[i]));
  const int longer = std::max(img.width, img.height);
  if (options_.max_side > 0 && longer > options_.max_side) {
    const double s = static_cast<double>(options_.max_side) / longer;
    cv::Mat out;
    cv::resize(AsMat(img), out,
               cv::Size(std::max(1, static_cast<int>(img.width * s + 0.5)),
                        std::max(1, static_cast<int>(img.height * s + 0.5))),
               0, 0, cv::INTER_AREA);
    img = FromMat(out);
  }
  if (options_.cache_sources) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    cache_->images.emplace(i, img);
  }
  return img;
}

absl::StatusOr<TrainingPair> PairDataset::Sample(uint64_t index) const {
  std::mt19937_64 rng(Mix(Mix(options_.seed) ^ index));
  const DegradationOptions& deg = options_.degradation;
  const size_t source_index = std::uniform_int_distribution<size_t>(0, files_.size() - 1)(rng);
  ASSIGN_OR_RETURN(image::Image source, Source(source_index));

  const bool twice = std::uniform_real_distribution<double>(0.0, 1.0)(rng) < deg.double_jpeg_prob;
  // The region holds the crop plus room for the grid shift (and the second
  // shift of double JPEG).
  const int margin = (deg.grid_shift ? 7 : 0) + (twice ? 7 : 0);
  const int region = options_.crop + margin;
  if (source.width < region || source.height < region) {
    // Too small a source: enlarge it (rare; such sources should be avoided).
    const double s = static_cast<double>(region) / std::min(source.width, source.height);
    cv::Mat out;
    cv::resize(AsMat(source), out,
               cv::Size(std::max(region, static_cast<int>(source.width * s + 0.999)),
                        std::max(region, static_cast<int>(source.height * s + 0.999))),
               0, 0, cv::INTER_CUBIC);
    source = FromMat(out);
  }
  const int x = std::uniform_int_distribution<int>(0, source.width - region)(rng);
  const int y = std::uniform_int_distribution<int>(0, source.height - region)(rng);
  image::Image patch = CropImage(source, x, y, region, region);
  // Augment before compressing so the artifacts keep JPEG's orientation.
  if (options_.augment) patch = Dihedral(patch, std::uniform_int_distribution<int>(0, 7)(rng));

  // One JPEG pass: the service's libjpeg-at-QF path, or with probability
  // table_bank_prob a drawn set of tables (labelled with their nearest
  // libjpeg quality). The draw is skipped when the bank is off, so recipes
  // without it sample exactly as before.
  auto compress = [&](const image::Image& img, int qf, int* label) -> absl::StatusOr<image::Image> {
    *label = qf;
    if (deg.table_bank_prob > 0 &&
        std::uniform_real_distribution<double>(0.0, 1.0)(rng) < deg.table_bank_prob) {
      const JpegTables tables = DrawJpegTables(deg, qf, rng);
      ASSIGN_OR_RETURN(std::string bytes, EncodeJpegWithTables(img, tables));
      ASSIGN_OR_RETURN(image::DecodedImage decoded, image::DecodeImage(bytes));
      *label = LabelQuality(tables);
      return std::move(decoded.rgb);
    }
    return JpegRoundTrip(img, qf);
  };

  TrainingPair pair;
  const int qf = DrawQualityFactor(deg, rng);
  image::Image degraded;
  int offset = 0;
  if (twice) {
    const int first_qf = DrawQualityFactor(deg, rng);
    int first_label = 0;
    ASSIGN_OR_RETURN(image::Image once, compress(patch, first_qf, &first_label));
    offset = std::uniform_int_distribution<int>(1, 7)(rng);
    image::Image shifted = CropImage(once, offset, offset, region - offset, region - offset);
    ASSIGN_OR_RETURN(image::Image second, compress(shifted, qf, &pair.qf));
    // Re-embed so `degraded` is aligned with `patch` from `offset` on.
    degraded = patch;
    for (int r = 0; r < second.height; ++r) {
      std::copy_n(second.data.begin() + second.index(0, r), second.width * 3,
                  degraded.data.begin() + degraded.index(offset, r + offset));
    }
  } else {
    ASSIGN_OR_RETURN(degraded, compress(patch, qf, &pair.qf));
  }
  int sx = offset, sy = offset;
  if (deg.grid_shift) {
    sx += std::uniform_int_distribution<int>(0, 7)(rng);
    sy += std::uniform_int_distribution<int>(0, 7)(rng);
  }
  pair.hq = CropImage(patch, sx, sy, options_.crop, options_.crop);
  pair.lq = CropImage(degraded, sx, sy, options_.crop, options_.crop);
  return pair;
}

absl::StatusOr<std::vector<TrainingPair>> PairDataset::Samples(uint64_t first, int count) const {
  std::vector<absl::StatusOr<TrainingPair>> results(count, absl::UnknownError("not run"));
  const int workers = std::max(1, std::min(options_.workers, count));
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = w; i < count; i += workers) results[i] = Sample(first + i);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<TrainingPair> pairs;
  pairs.reserve(count);
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    pairs.push_back(std::move(r).value());
  }
  return pairs;
}

}  // namespace codiff::training
