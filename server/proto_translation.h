// Between codiff.v1 messages and the core's types: request options in,
// results and model facts out. Nothing here does work.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codiff/v1/codiff.pb.h"
#include "core/image/image_encoder.h"
#include "core/image/image_output.h"
#include "core/pipeline/restorer.h"
#include "core/runtime/restore_flow.h"
#include "core/weights/model_folder.h"
#include "server/server_config.h"

namespace codiff::server {

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

absl::StatusOr<image::EncodeOptions> ToEncodeOptions(const codiff::v1::RestoreOptions& options);
// The output file's metadata policy and colour encoding.
absl::StatusOr<image::OutputOptions> ToOutputOptions(const codiff::v1::RestoreOptions& options);

// `default_mode`: what the served model runs when the request names no mode.
absl::StatusOr<pipeline::RestoreOptions> ToRestoreOptions(const codiff::v1::RestoreOptions& options,
                                                          pipeline::RestoreMode default_mode);

void FillRestoreResponse(const runtime::RestoreOutput& output, double total_seconds,
                         codiff::v1::RestoreResponse* response);

void FillModelInfo(const ModelFacts& facts, const ServerConfig& config,
                   codiff::v1::GetModelInfoResponse* response);

}  // namespace codiff::server
