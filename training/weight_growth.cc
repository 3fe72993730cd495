#include "training/weight_growth.h"

#include <set>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/weights/tensor_io.h"

namespace codiff::training {
namespace {

std::string Shape(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t d = 0; d < t.dim(); ++d) absl::StrAppend(&s, d ? ", " : "", t.size(d));
  return s + "]";
}

}  // namespace

absl::Status GrowModuleWeights(const std::string& path, torch::nn::Module& module,
                               const std::string& may_lack_prefix) {
  ASSIGN_OR_RETURN(TensorMap stored, ReadTensorFile(path));
  // Which weights mix channels, and which way round their axes are.
  std::set<std::string> forward_weights, transposed_weights;
  for (const auto& item : module.named_modules("", /*include_self=*/false)) {
    const std::string weight = item.key() + ".weight";
    if (item.value()->as<torch::nn::ConvTranspose2d>() != nullptr) {
      transposed_weights.insert(weight);
    } else if (item.value()->as<torch::nn::Conv2d>() != nullptr ||
               item.value()->as<torch::nn::Linear>() != nullptr) {
      forward_weights.insert(weight);
    }
  }
  std::vector<std::pair<std::string, torch::Tensor>> targets;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    targets.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    targets.emplace_back(item.key(), item.value());
  }
  // Check everything before touching the module, so a refused file leaves it as it was.
  std::set<std::string> used;
  for (const auto& [name, target] : targets) {
    auto it = stored.find(name);
    if (it == stored.end()) {
      if (!may_lack_prefix.empty() && name.rfind(may_lack_prefix, 0) == 0) continue;
      return absl::InvalidArgumentError(absl::StrCat(path, " lacks ", name));
    }
    const torch::Tensor& from = it->second;
    bool fits = from.dim() == target.dim();
    for (int64_t d = 0; fits && d < from.dim(); ++d) fits = from.size(d) <= target.size(d);
    if (!fits) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", name, " is ", Shape(from),
                                                     ", which does not fit in ", Shape(target),
                                                     " (a network can grow, not shrink)"));
    }
    used.insert(name);
  }
  for (const auto& [name, tensor] : stored) {
    if (used.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", name, " has no place in the network"));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    auto it = stored.find(name);
    if (it == stored.end()) continue;
    const torch::Tensor& from = it->second;
    torch::Tensor slice = target;
    for (int64_t d = 0; d < from.dim(); ++d) slice = slice.narrow(d, 0, from.size(d));
    slice.copy_(from.to(target.dtype()));
    const bool forward = forward_weights.count(name) > 0;
    const bool transposed = transposed_weights.count(name) > 0;
    if ((forward || transposed) && target.dim() >= 2) {
      const int64_t out_dim = transposed ? 1 : 0, in_dim = transposed ? 0 : 1;
      const int64_t old_in = from.size(in_dim);
      if (target.size(in_dim) > old_in) {
        target.narrow(out_dim, 0, from.size(out_dim))
            .narrow(in_dim, old_in, target.size(in_dim) - old_in)
            .zero_();
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace codiff::training
