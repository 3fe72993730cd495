#include "core/weights/state_dict.h"

#include <set>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace codiff {
namespace {

void Collect(const torch::nn::Module& module, const std::string& prefix, NamedTensors* out) {
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    out->emplace_back(prefix + p.key(), p.value());
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    out->emplace_back(prefix + b.key(), b.value());
  }
  for (const auto& child : module.named_children()) {
    Collect(*child.value(), prefix + child.key() + ".", out);
  }
}

std::string ShapeString(c10::IntArrayRef sizes) { return absl::StrJoin(sizes, ","); }

}  // namespace

NamedTensors StateDictOf(const torch::nn::Module& module) {
  NamedTensors out;
  Collect(module, "", &out);
  return out;
}

std::string FormatKeyShapeLines(const NamedTensors& entries) {
  std::string text;
  for (const auto& [name, tensor] : entries) {
    absl::StrAppend(&text, name, "\t", ShapeString(tensor.sizes()), "\n");
  }
  return text;
}

std::string LoadReport::Summary() const {
  std::string s = absl::StrCat(loaded, " tensors loaded");
  if (!missing_optional.empty()) {
    absl::StrAppend(&s, ", ", missing_optional.size(), " optional absent");
  }
  if (!unused.empty()) {
    absl::StrAppend(
        &s, ", ", unused.size(), " unused (",
        absl::StrJoin(unused.begin(), unused.begin() + std::min<size_t>(unused.size(), 5), ", "),
        unused.size() > 5 ? ", ..." : "", ")");
  }
  return s;
}

absl::StatusOr<LoadReport> LoadStateDictStrict(torch::nn::Module& module, const TensorMap& source,
                                               const LoadOptions& options) {
  NamedTensors targets = StateDictOf(module);
  LoadReport report;
  std::set<std::string> used;
  std::vector<std::pair<torch::Tensor, const torch::Tensor*>> copies;
  for (const auto& [name, target] : targets) {
    const std::string key = options.source_prefix + (options.rename ? options.rename(name) : name);
    auto it = source.find(key);
    if (it == source.end()) {
      bool optional = false;
      for (const auto& suffix : options.optional_suffixes) {
        optional = optional || absl::EndsWith(name, suffix);
      }
      if (optional) {
        report.missing_optional.push_back(key);
        continue;
      }
      return absl::NotFoundError(absl::StrCat("weights: missing tensor '", key, "' (shape ",
                                              ShapeString(target.sizes()), ")"));
    }
    if (it->second.sizes() != target.sizes()) {
      return absl::InvalidArgumentError(
          absl::StrCat("weights: tensor '", key, "' has shape [", ShapeString(it->second.sizes()),
                       "], the model expects [", ShapeString(target.sizes()), "]"));
    }
    used.insert(key);
    copies.emplace_back(target, &it->second);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, src] : copies) {
    target.copy_(*src);
    ReleaseMappedPages(*src);
  }
  report.loaded = static_cast<int>(copies.size());
  for (const auto& [key, tensor] : source) {
    if (absl::StartsWith(key, options.source_prefix) && used.count(key) == 0) {
      report.unused.push_back(key);
    }
  }
  return report;
}

}  // namespace codiff
