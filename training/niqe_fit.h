// codiff-train niqe-fit: the NIQE pristine model (core/metrics/niqe.h) fitted
// on lossless photos, as the NIQE paper does: the sharpest patches of every
// photo (mean local sigma above 0.75 of the photo's sharpest patch), one
// multivariate Gaussian over all of them.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/metrics/niqe.h"

namespace codiff::training {

struct NiqeFitOptions {
  std::vector<std::string> data_dirs;
  std::string out;   // the model's JSON file
  std::string list;  // optional TSV: path, sha256, patches kept, patches in the photo
  // Paths in the list and the model's `source` are written relative to this
  // (empty: as found).
  std::string relative_to;
  bool progress = true;
};

absl::StatusOr<metrics::NiqeModel> RunNiqeFit(const NiqeFitOptions& options);

}  // namespace codiff::training
