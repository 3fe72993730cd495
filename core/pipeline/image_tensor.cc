#include "core/pipeline/image_tensor.h"

#include <cstring>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/util/torch_status.h"

namespace codiff::pipeline {

torch::Tensor ImageToTensor(const image::Image& image) {
  // from_blob does not own the bytes; the float conversion copies them.
  const torch::Tensor bytes =
      torch::from_blob(const_cast<uint8_t*>(image.data.data()),
                       {image.height, image.width, image.channels}, torch::kUInt8);
  return bytes.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0f).contiguous();
}

absl::StatusOr<image::Image> TensorToImage(const torch::Tensor& tensor) {
  if (tensor.dim() != 4 || tensor.size(0) != 1 ||
      (tensor.size(1) != 1 && tensor.size(1) != 3 && tensor.size(1) != 4)) {
    return absl::InvalidArgumentError(
        absl::StrCat("TensorToImage: expected [1, 1|3|4, H, W], got dim ", tensor.dim()));
  }
  return CatchTorchErrors("TensorToImage", [&] {
    const torch::Tensor bytes = tensor.detach()
                                    .to(torch::kCPU, torch::kFloat32)
                                    .clamp(0.0, 1.0)
                                    .mul(255.0)
                                    .round()
                                    .to(torch::kUInt8)
                                    .squeeze(0)
                                    .permute({1, 2, 0})
                                    .contiguous();
    image::Image out(static_cast<int>(bytes.size(1)), static_cast<int>(bytes.size(0)),
                     static_cast<int>(bytes.size(2)));
    std::memcpy(out.data.data(), bytes.data_ptr<uint8_t>(), out.data.size());
    return out;
  });
}

}  // namespace codiff::pipeline
