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
#include "core/runtime/served_model.h"
#include "core/weights/model_folder.h"
#include "server/server_config.h"

namespace codiff::server {

// What GetModelInfo reports (core/runtime/served_model.h).
using ModelFacts = runtime::ModelFacts;

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
