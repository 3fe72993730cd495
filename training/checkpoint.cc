#include "training/checkpoint.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/state_dict.h"
#include "core/weights/tensor_io.h"

namespace codiff::training {

namespace fs = std::filesystem;

std::string CheckpointDir(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoint").string();
}
std::string StagingDir(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoint.partial").string();
}

absl::Status SaveModuleWeights(const std::string& path, const torch::nn::Module& module) {
  return WriteTensorFile(path, StateDictOf(module));
}

absl::Status LoadModuleWeights(const std::string& path, torch::nn::Module& module) {
  return LoadModuleWeights(path, module, "");
}

absl::Status LoadModuleWeights(const std::string& path, torch::nn::Module& module,
                               const std::string& may_lack_prefix) {
  ASSIGN_OR_RETURN(TensorMap tensors, ReadTensorFile(path));
  LoadOptions options;
  options.optional_suffixes.clear();  // our own files hold everything
  if (!may_lack_prefix.empty()) {
    // A full name is its own suffix; the prefix test keeps the list exact.
    for (const auto& item : module.named_parameters(/*recurse=*/true)) {
      if (item.key().rfind(may_lack_prefix, 0) == 0)
        options.optional_suffixes.push_back(item.key());
    }
    for (const auto& item : module.named_buffers(/*recurse=*/true)) {
      if (item.key().rfind(may_lack_prefix, 0) == 0)
        options.optional_suffixes.push_back(item.key());
    }
  }
  auto report = LoadStateDictStrict(module, tensors, options);
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat(path, ": ", report.status().message()));
  }
  if (!report->unused.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", report->unused.size(),
                                                   " keys not used, e.g. ", report->unused[0]));
  }
  return absl::OkStatus();
}

absl::Status SaveNamedTensors(const std::string& path, const NamedTensors& tensors) {
  NamedTensors detached;
  for (const auto& [name, t] : tensors) detached.emplace_back(name, t.detach());
  return WriteTensorFile(path, detached);
}

absl::Status LoadNamedTensorsInto(const std::string& path, const NamedTensors& targets) {
  ASSIGN_OR_RETURN(TensorMap tensors, ReadTensorFile(path));
  for (const auto& [name, target] : targets) {
    auto it = tensors.find(name);
    if (it == tensors.end()) return absl::NotFoundError(absl::StrCat(path, " lacks ", name));
    if (it->second.sizes() != target.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": wrong shape for ", name));
    }
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : targets) {
    torch::Tensor t = target;
    t.copy_(tensors.at(name));
  }
  return absl::OkStatus();
}

absl::Status SaveOptimizerState(const std::string& path, torch::optim::Optimizer& optimizer) {
  return CatchTorchErrors("saving optimizer " + path, [&] { torch::save(optimizer, path); });
}

absl::Status LoadOptimizerState(const std::string& path, torch::optim::Optimizer& optimizer) {
  if (!fs::exists(path)) return absl::NotFoundError(absl::StrCat("no optimizer state ", path));
  return CatchTorchErrors("loading optimizer " + path, [&] { torch::load(optimizer, path); });
}

absl::Status WriteCheckpointState(const std::string& dir, const CheckpointState& state) {
  nlohmann::json j = {{"stage", state.stage},
                      {"step", state.step},
                      {"recipe", state.recipe},
                      {"extra", state.extra}};
  std::ofstream out((fs::path(dir) / "state.json").string(), std::ios::trunc);
  out << j.dump(2) << '\n';
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", dir, "/state.json"));
  return absl::OkStatus();
}

absl::StatusOr<CheckpointState> ReadCheckpointState(const std::string& dir) {
  const std::string path = (fs::path(dir) / "state.json").string();
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no checkpoint at ", dir));
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not valid JSON"));
  }
  CheckpointState s;
  s.stage = j.value("stage", std::string());
  s.step = j.value("step", int64_t{0});
  s.recipe = j.value("recipe", nlohmann::json::object());
  s.extra = j.value("extra", nlohmann::json::object());
  return s;
}

absl::Status CommitCheckpoint(const std::string& run_dir) {
  const fs::path staging = StagingDir(run_dir), final_dir = CheckpointDir(run_dir);
  const fs::path old = fs::path(run_dir) / "checkpoint.old";
  std::error_code ec;
  fs::remove_all(old, ec);
  if (fs::exists(final_dir)) fs::rename(final_dir, old, ec);
  if (ec) return absl::InternalError(absl::StrCat("checkpoint swap: ", ec.message()));
  fs::rename(staging, final_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("checkpoint swap: ", ec.message()));
  fs::remove_all(old, ec);
  return absl::OkStatus();
}

}  // namespace codiff::training
