// One structured (JSON) log line per request, on stderr, so that log
// collectors can index the fields without parsing free text.
#pragma once

#include <cstdint>
#include <string>

#include "core/runtime/restore_flow.h"

namespace codiff::server {

struct RequestLogRecord {
  std::string id;
  std::string protocol = "grpc";  // "grpc" or "http"
  std::string method;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  int64_t pixels = 0;
  float qf = -1;  // -1: not known
  int tiles = 0;
  double queue_seconds = 0;
  double compute_seconds = 0;
  // Model stages of the batches that held the request's tiles (0 = not run).
  double cave_seconds = 0;
  double vae_encode_seconds = 0;
  double unet_seconds = 0;
  double vae_decode_seconds = 0;
  double finish_seconds = 0;  // colour fix + JPEG projection
  double total_seconds = 0;
  std::string code = "OK";
  std::string message;
};

// One JSON line; the id and the message are cut to bounded lengths (with a
// note of how much was cut), so no request can produce an unbounded line.
std::string FormatRequestLog(const RequestLogRecord& record);

void WriteRequestLog(const RequestLogRecord& record);

// Copies a finished restore's sizes and timings into its log record.
void RecordOutput(const runtime::RestoreOutput& output, RequestLogRecord* record);

}  // namespace codiff::server
