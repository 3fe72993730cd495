#include "server/request_log.h"

#include <cstdio>

#include <nlohmann/json.hpp>

namespace codiff::server {

namespace {

constexpr size_t kMaxLoggedIdBytes = 256;
constexpr size_t kMaxLoggedMessageBytes = 1024;

std::string Bounded(const std::string& text, size_t limit) {
  if (text.size() <= limit) return text;
  return text.substr(0, limit) + "...(" + std::to_string(text.size() - limit) + " more bytes)";
}

}  // namespace

std::string FormatRequestLog(const RequestLogRecord& r) {
  nlohmann::json j = {{"event", "request"},         {"id", Bounded(r.id, kMaxLoggedIdBytes)},
                      {"protocol", r.protocol},     {"method", r.method},
                      {"bytes_in", r.bytes_in},     {"bytes_out", r.bytes_out},
                      {"pixels", r.pixels},         {"tiles", r.tiles},
                      {"queue_s", r.queue_seconds}, {"compute_s", r.compute_seconds},
                      {"total_s", r.total_seconds}, {"status", r.code}};
  if (r.qf >= 0) j["qf"] = r.qf;
  const std::pair<const char*, double> stages[] = {{"cave_s", r.cave_seconds},
                                                   {"vae_encode_s", r.vae_encode_seconds},
                                                   {"unet_s", r.unet_seconds},
                                                   {"vae_decode_s", r.vae_decode_seconds},
                                                   {"finish_s", r.finish_seconds}};
  for (const auto& [name, seconds] : stages) {
    if (seconds > 0) j[name] = seconds;
  }
  if (!r.message.empty()) j["message"] = Bounded(r.message, kMaxLoggedMessageBytes);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void WriteRequestLog(const RequestLogRecord& record) {
  // One fprintf per line keeps concurrent lines whole.
  std::fprintf(stderr, "%s\n", FormatRequestLog(record).c_str());
}

void RecordOutput(const runtime::RestoreOutput& output, RequestLogRecord* record) {
  record->pixels = output.pixels;
  record->queue_seconds = output.queue_seconds;
  record->compute_seconds = output.compute_seconds;
  record->cave_seconds = output.stages.cave + output.stages.projection;
  record->vae_encode_seconds = output.stages.vae_encode;
  record->unet_seconds = output.stages.unet;
  record->vae_decode_seconds = output.stages.vae_decode;
  record->finish_seconds = output.finish_seconds;
  record->tiles = output.tiles;
  if (output.has_qf) record->qf = output.predicted_qf;
  record->bytes_out = static_cast<int64_t>(output.image.size());
}

}  // namespace codiff::server
