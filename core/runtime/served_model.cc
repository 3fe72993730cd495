#include "core/runtime/served_model.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/runtime/device.h"
#include "core/runtime/device_memory.h"
#include "core/runtime/memory_limit.h"
#include "core/util/status_macros.h"

namespace codiff::runtime {
namespace {

struct Replica {
  torch::Device device;
  LoadedModel model;
};

void FillFacts(const ServedModelConfig& config, const LoadedModel& model, ModelFacts* facts) {
  int64_t parameters = 0;
  for (const auto& p : model.generator->parameters()) parameters += p.numel();
  const auto& arch = model.generator->architecture();
  facts->preset = arch.preset;
  facts->parameters = parameters;
  facts->timestep = arch.timestep;
  facts->trained = model.provenance.trained;
  facts->provenance = model.provenance.description;
  facts->model_dir = config.model_dir;
  facts->trained_qf_min = model.provenance.trained_qf_min;
  facts->trained_qf_max = model.provenance.trained_qf_max;
  facts->sources = model.provenance.sources;
  facts->perceptual_inert = model.provenance.perceptual_inert;
  facts->default_mode = model.provenance.default_mode == "fidelity"
                            ? pipeline::RestoreMode::kFidelity
                            : pipeline::RestoreMode::kPerceptual;
}

// One small tile per mode: enough to fault in the weights and initialise the
// allocator and kernels, without running a full batch of full tiles (which
// took half a minute on 2 CPU cores).
absl::Status WarmUp(const std::vector<std::unique_ptr<pipeline::Restorer>>& restorers) {
  for (const auto& r : restorers) {
    const int side = std::min(256, r->default_tiles().tile_size);
    auto tiles = torch::full({1, 3, side, side}, 0.5f);
    std::vector<std::optional<uint64_t>> seeds(1);
    for (auto mode : {pipeline::RestoreMode::kPerceptual, pipeline::RestoreMode::kFidelity}) {
      auto out = r->RunTiles(tiles, mode, seeds);
      if (!out.ok()) return out.status();
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t MemoryLimitOf(int64_t max_memory_bytes) {
  return max_memory_bytes > 0 ? max_memory_bytes : AvailableMemoryBytes() / 10 * 8;
}

absl::StatusOr<std::unique_ptr<ServedModel>> ServedModel::Load(const ServedModelConfig& config,
                                                               RestoreFlow::Post post,
                                                               BatchObserver* observer) {
  std::unique_ptr<ServedModel> served(new ServedModel());
  ASSIGN_OR_RETURN(pipeline::InferenceStrategy strategy,
                   pipeline::ParseInferenceStrategy(config.strategy));
  std::vector<Replica> loaded;
  for (const auto& name : config.devices) {
    ASSIGN_OR_RETURN(torch::Device device, ParseDevice(name));
    ASSIGN_OR_RETURN(torch::ScalarType dtype, ParseComputeDtype(config.dtype, device));
    for (int r = 0; r < config.replicas_per_device; ++r) {
      ModelLoadOptions load;
      load.device = device;
      load.dtype = dtype;
      ASSIGN_OR_RETURN(LoadedModel model, LoadModelFolder(config.model_dir, load));
      loaded.push_back({device, std::move(model)});
    }
  }
  if (loaded.empty()) return absl::InvalidArgumentError("no device to serve on");
  // Half of what the weights leave in host memory goes to the CPU replicas'
  // compute (they run at once), half to the admitted requests' images and
  // tiles. A GPU replica's compute is bounded by its GPU's free memory.
  const int64_t limit = MemoryLimitOf(config.max_memory_bytes);
  const int64_t left = limit - ResidentBytes();
  std::vector<torch::Device> devices;
  for (const Replica& replica : loaded) devices.push_back(replica.device);
  const ReplicaWorkingMemory working =
      PlanReplicaWorkingMemory(devices, std::max<int64_t>(left / 2, 1));
  ModelFacts& facts = served->facts_;
  facts.compute_memory = working.sources;
  FillFacts(config, loaded.front().model, &facts);
  std::vector<std::unique_ptr<pipeline::Restorer>> restorers;
  int64_t working_reserve = 0;
  for (size_t i = 0; i < loaded.size(); ++i) {
    pipeline::RestorerConfig rc;
    rc.device = loaded[i].device;
    rc.strategy = strategy;
    if (config.tile_size > 0) {
      rc.tiles.tile_size = config.tile_size;
      rc.tiles.overlap = config.tile_overlap >= 0 ? config.tile_overlap : config.tile_size / 8;
    }
    rc.max_batch_tiles = config.batching.max_batch_size;
    rc.max_jpeg_quality = loaded[i].model.provenance.trained_qf_max;
    rc.working_memory_bytes = working.bytes[i];
    restorers.push_back(std::make_unique<pipeline::Restorer>(loaded[i].model.generator, rc));
    working_reserve += rc.device.is_cpu() ? restorers.back()->PeakWorkingBytes() : 0;
  }
  facts.tiles = restorers.front()->default_tiles();
  facts.replicas = static_cast<int>(restorers.size());
  if (config.warmup) RETURN_IF_ERROR(WarmUp(restorers));

  // After warm-up the memory the model and its working memory hold is known:
  // requests get the rest of the limit.
  MemoryPlan& memory = served->memory_;
  memory.max_memory_bytes = limit;
  memory.resident_after_warmup = ResidentBytes();
  memory.compute_reserve = working_reserve;
  memory.for_requests = limit - memory.resident_after_warmup - working_reserve;
  if (memory.for_requests < (64ll << 20)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "limits.max_memory_bytes (", limit, ") leaves ", memory.for_requests,
        " bytes for requests after the model took ", memory.resident_after_warmup,
        " and its compute ", working_reserve, " bytes; at least 64 MB are needed: raise it"));
  }
  FlowConfig flow;
  flow.image_limits = config.image_limits;
  flow.max_tile_size = config.max_tile_size;
  flow.memory_budget_bytes = memory.for_requests;

  const pipeline::Restorer* preparer = restorers.front().get();
  served->strategy_ = pipeline::InferenceStrategyName(preparer->strategy());
  served->batcher_ = std::make_unique<TileBatcher>(config.batching, observer);
  served->flow_ = std::make_unique<RestoreFlow>(flow, served->batcher_.get(), std::move(post));
  served->flow_->SetPreparer(preparer);
  // model.yaml `perceptual: inert`: perceptual requests run the fidelity path.
  served->flow_->SetPerceptualInert(facts.perceptual_inert);
  served->batcher_->Start(std::move(restorers));
  return served;
}

ServedModel::~ServedModel() = default;

}  // namespace codiff::runtime
