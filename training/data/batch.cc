#include "training/data/batch.h"

#include <algorithm>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace codiff::training {

torch::Tensor ImageToTensor(const image::Image& rgb) {
  TORCH_CHECK(rgb.channels == 3, "ImageToTensor: expected RGB");
  torch::Tensor hwc = torch::from_blob(const_cast<uint8_t*>(rgb.data.data()),
                                       {rgb.height, rgb.width, 3}, torch::kUInt8);
  return hwc.permute({2, 0, 1}).to(torch::kFloat32).div(255.0).contiguous();
}

image::Image TensorToImage(const torch::Tensor& chw) {
  torch::Tensor hwc = chw.detach()
                          .to(torch::kCPU, torch::kFloat32)
                          .clamp(0.0, 1.0)
                          .mul(255.0)
                          .round()
                          .to(torch::kUInt8)
                          .permute({1, 2, 0})
                          .contiguous();
  image::Image out(static_cast<int>(hwc.size(1)), static_cast<int>(hwc.size(0)), 3);
  std::copy_n(hwc.data_ptr<uint8_t>(), out.data.size(), out.data.begin());
  return out;
}

Batch ToBatch(const std::vector<TrainingPair>& pairs) {
  std::vector<torch::Tensor> hq, lq;
  std::vector<float> qf;
  for (const TrainingPair& p : pairs) {
    hq.push_back(ImageToTensor(p.hq));
    lq.push_back(ImageToTensor(p.lq));
    qf.push_back(static_cast<float>(p.qf));
  }
  return {torch::stack(hq), torch::stack(lq), torch::tensor(qf)};
}

BatchLoader::BatchLoader(const PairDataset& dataset, int batch_size, int64_t first_step)
    : dataset_(dataset), batch_size_(batch_size), next_step_(first_step) {
  pending_ = Launch(next_step_);
}

std::future<absl::StatusOr<Batch>> BatchLoader::Launch(int64_t step) {
  return std::async(std::launch::async, [this, step]() -> absl::StatusOr<Batch> {
    ASSIGN_OR_RETURN(auto pairs,
                     dataset_.Samples(static_cast<uint64_t>(step) * batch_size_, batch_size_));
    return ToBatch(pairs);
  });
}

absl::StatusOr<Batch> BatchLoader::Next() {
  absl::StatusOr<Batch> batch = pending_.get();
  ++next_step_;
  pending_ = Launch(next_step_);
  return batch;
}

absl::StatusOr<ValidationSet> LoadValidationSet(const std::string& dir, const std::vector<int>& qfs,
                                                int crop, int max_images) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListImageFiles({dir}));
  if (max_images > 0 && static_cast<int>(files.size()) > max_images) files.resize(max_images);
  std::vector<image::Image> crops;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(image::Image img, ReadRgbImage(f));
    const int side = std::min({crop, img.width / 32 * 32, img.height / 32 * 32});
    if (side < 32) continue;
    // All crops must share one size to stack; use the requested one and skip
    // images that are too small for it.
    if (side != crop) continue;
    const int x = (img.width - side) / 2 / 8 * 8, y = (img.height - side) / 2 / 8 * 8;
    image::Image c(side, side, 3);
    for (int r = 0; r < side; ++r) {
      std::copy_n(img.data.begin() + img.index(x, y + r), side * 3, c.data.begin() + c.index(0, r));
    }
    crops.push_back(std::move(c));
  }
  if (crops.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no validation image in ", dir, " is at least ", crop, "x", crop));
  }
  ValidationSet set;
  set.qfs = qfs;
  for (int qf : qfs) {
    std::vector<TrainingPair> pairs;
    for (const image::Image& c : crops) {
      ASSIGN_OR_RETURN(image::Image lq, JpegRoundTrip(c, qf));
      pairs.push_back({c, std::move(lq), qf});
    }
    set.per_qf.push_back(ToBatch(pairs));
  }
  return set;
}

}  // namespace codiff::training
