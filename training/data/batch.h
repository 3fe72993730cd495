// Training pairs as tensors, and a loader that prepares the next batch on a
// background thread while the current step runs.
#pragma once

#include <cstdint>
#include <future>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "core/image/image.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {

struct Batch {
  torch::Tensor hq;  // [B, 3, H, W] float32 in [0, 1]
  torch::Tensor lq;  // [B, 3, H, W] float32 in [0, 1]
  torch::Tensor qf;  // [B] float32, the JPEG quality used
};

// [3, H, W] float32 in [0, 1] from 8-bit RGB, and back (rounded, clamped).
torch::Tensor ImageToTensor(const image::Image& rgb);
image::Image TensorToImage(const torch::Tensor& chw);

Batch ToBatch(const std::vector<TrainingPair>& pairs);

// Batch s holds samples [s * batch_size, (s + 1) * batch_size), so step s of
// a resumed run sees exactly the batch the uninterrupted run saw.
class BatchLoader {
 public:
  BatchLoader(const PairDataset& dataset, int batch_size, int64_t first_step);
  // Returns the batch for the next step and starts preparing the one after.
  absl::StatusOr<Batch> Next();

 private:
  std::future<absl::StatusOr<Batch>> Launch(int64_t step);
  const PairDataset& dataset_;
  int batch_size_;
  int64_t next_step_;
  std::future<absl::StatusOr<Batch>> pending_;
};

// Fixed validation pairs: each image center-cropped to `crop` (a multiple of
// 32; smaller images are cut to their largest multiple of 32), compressed at
// every QF in `qfs` with the grid aligned, as benchmark evaluations do.
struct ValidationSet {
  std::vector<int> qfs;
  // per QF: hq/lq [N, 3, crop, crop]
  std::vector<Batch> per_qf;
};
absl::StatusOr<ValidationSet> LoadValidationSet(const std::string& dir, const std::vector<int>& qfs,
                                                int crop, int max_images);

}  // namespace codiff::training
