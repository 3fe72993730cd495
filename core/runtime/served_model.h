// The served model, as one object: every replica of a model folder loaded
// onto its devices, the host memory split between their compute and the
// requests, the warm-up, the tile batcher and the request flow over them.
// A front end (gRPC, HTTP) asks it for facts and runs requests through
// flow(); codiff-server keeps only flags, listeners, health and signals.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image_limits.h"
#include "core/pipeline/restorer.h"
#include "core/pipeline/tile_plan.h"
#include "core/runtime/batch_observer.h"
#include "core/runtime/restore_flow.h"
#include "core/runtime/tile_batcher.h"
#include "core/weights/model_folder.h"

namespace codiff::runtime {

struct ServedModelConfig {
  std::string model_dir;
  std::vector<std::string> devices = {"cpu"};
  int replicas_per_device = 1;
  std::string dtype = "float32";
  std::string strategy = "auto";  // pipeline::ParseInferenceStrategy
  int tile_size = 0;              // 0: the model's default
  int tile_overlap = -1;          // -1: tile_size / 8
  BatcherOptions batching;
  image::ImageLimits image_limits;
  int max_tile_size = 0;  // largest per-request tile_size; 0: the model's
  // Everything the process may hold; 0: 80% of the cgroup's (or machine's)
  // memory.
  int64_t max_memory_bytes = 0;
  bool warmup = true;
};

// What GetModelInfo reports; fixed once the model is loaded.
struct ModelFacts {
  std::string preset;
  int64_t parameters = 0;
  int64_t timestep = 0;
  bool trained = false;
  std::string provenance;
  std::string model_dir;
  int trained_qf_min = 0;  // 0 = not recorded
  int trained_qf_max = 0;
  std::vector<SourceFile> sources;  // imported models: what they were made from
  // What RESTORE_MODE_UNSPECIFIED means for this model.
  pipeline::RestoreMode default_mode = pipeline::RestoreMode::kPerceptual;
  // model.yaml `perceptual: inert`: perceptual requests run fidelity.
  bool perceptual_inert = false;
  pipeline::TileConfig tiles;
  int replicas = 0;
  // Per replica: where its compute budget came from (PlanReplicaWorkingMemory).
  std::vector<std::string> compute_memory;
};

// How max_memory_bytes was split, after warm-up.
struct MemoryPlan {
  int64_t max_memory_bytes = 0;
  int64_t resident_after_warmup = 0;
  int64_t compute_reserve = 0;  // the CPU replicas' largest model calls
  int64_t for_requests = 0;     // the requests' budget (admission by cost)
};

class ServedModel {
 public:
  // Loads, plans memory and warms up; then the batcher runs and flow()
  // takes requests. `post` runs CPU work off the caller's thread (the work
  // pool); `observer` (may be null) sees the batcher's events. Errors name
  // the model folder or the setting to change.
  static absl::StatusOr<std::unique_ptr<ServedModel>> Load(const ServedModelConfig& config,
                                                           RestoreFlow::Post post,
                                                           BatchObserver* observer);
  ~ServedModel();
  ServedModel(const ServedModel&) = delete;
  ServedModel& operator=(const ServedModel&) = delete;

  const ModelFacts& facts() const { return facts_; }
  const MemoryPlan& memory() const { return memory_; }
  // "reference" or "per_tile": how perceptual restores run.
  const std::string& strategy() const { return strategy_; }
  RestoreFlow& flow() { return *flow_; }

 private:
  ServedModel() = default;

  ModelFacts facts_;
  MemoryPlan memory_;
  std::string strategy_;
  std::unique_ptr<TileBatcher> batcher_;
  std::unique_ptr<RestoreFlow> flow_;  // after batcher_: destroyed first
};

// The memory limit in force: `max_memory_bytes`, or 80% of what the cgroup
// (or machine) has when it is 0.
int64_t MemoryLimitOf(int64_t max_memory_bytes);

}  // namespace codiff::runtime
