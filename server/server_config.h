// Everything the server can be told, as one struct: read from YAML, then
// overridden by command-line flags, validated once at start-up.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace codiff::server {

struct TlsConfig {
  // Both empty: plaintext. Both set: TLS.
  std::string cert_file;
  std::string key_file;
  // Set: clients must present a certificate signed by this CA (mTLS).
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

struct BatchingConfig {
  // Tiles per model call; 0 = by device: 1 when every device is a CPU (on
  // 2 cores four 544 px tiles took 5.0 s batched and 4.1 s one at a time),
  // 8 otherwise (GPUs gain from batches).
  int max_batch_size = 0;
  double max_queue_delay_ms = 5;  // how long the first tile waits for company
  int max_queue_size = 64;        // requests admitted but not yet computing
};

struct LimitsConfig {
  int64_t max_message_bytes = 64ll << 20;
  // Admission is by cost (max_memory_bytes); this only bounds what a header
  // may claim. 100 MP admits every camera and phone photo (50 MP phones,
  // 61 MP full-frame cameras).
  int64_t max_pixels = 100'000'000;
  int max_side = 16384;
  int max_in_flight = 128;  // requests anywhere in the server
  // Memory the process may use: the model, its working memory and every
  // admitted request's images and tiles. Requests are admitted while their
  // estimated bytes (runtime::EstimateRestoreCost) fit in what the model
  // left after warm-up; the rest are refused at once. 0 = 80% of the
  // cgroup's memory limit, or of the machine's memory.
  int64_t max_memory_bytes = 0;
  int max_tile_size = 0;  // largest per-request tile_size; 0 = the model's tile size
};

// The metrics endpoint (metrics_listen): an operator's port, plaintext and
// unauthenticated; bind it to a cluster-internal address, never the internet.
struct MetricsHttpConfig {
  int max_connections = 256;           // open at once; more are closed at once
  double request_timeout_seconds = 5;  // whole exchange: read the request, write the answer
  int max_request_bytes = 8192;        // request line + headers
};

// The HTTP/1.1 front end (http_listen): the same API as gRPC with raw image
// bytes in and out (server/http_api.h), health and /metrics. Every bound
// keeps a hostile client to a file descriptor and a few kilobytes.
struct HttpConfig {
  int max_connections = 512;           // open at once; more are answered 503 and closed
  double header_timeout_seconds = 10;  // whole request head, however it trickles
  double body_timeout_seconds = 120;   // whole body, once the head is in
  double idle_timeout_seconds = 30;    // keep-alive wait for the next request
  int max_header_bytes = 16384;        // request line + headers
  int io_threads = 2;                  // event loops (the work runs on the work pool)
};

// Optional bearer-token authentication (server/auth_interceptor.h).
struct AuthConfig {
  // One token per line (blank lines and lines starting with # are skipped).
  // Empty: no authentication.
  std::string token_file;
  // Full gRPC service names callable without a token.
  std::vector<std::string> exempt_services = {"grpc.health.v1.Health"};
  bool enabled() const { return !token_file.empty(); }
};

struct ServerConfig {
  std::string listen = "0.0.0.0:50051";
  std::string metrics_listen = "0.0.0.0:9090";
  // HTTP/1.1 front end (server/http_api.h); empty: off.
  std::string http_listen = "0.0.0.0:8080";
  std::string model_dir;  // empty: the bundled default (see DefaultModelDir)
  // "cpu", "cuda:0", ...; one inference thread per replica per device.
  std::vector<std::string> devices = {"cpu"};
  int replicas_per_device = 1;
  // Compute precision: float32 (CPU and GPU), float16 / bfloat16 (CUDA only).
  std::string dtype = "float32";
  // Perceptual restores: auto (reference for sd21, per_tile otherwise),
  // reference or per_tile; see pipeline::InferenceStrategy.
  std::string strategy = "auto";
  int torch_threads = 0;  // intra-op threads per process; 0 = the cgroup CPU quota, else every core
  int tile_size = 0;      // 0 = the model's default
  int tile_overlap = -1;  // -1 = the model's default
  int worker_threads = 2;  // decode / blend / encode pool
  BatchingConfig batching;
  LimitsConfig limits;
  double shutdown_grace_seconds = 30;
  // HTTP/2 keeps a client on one connection, so pods an autoscaler adds would
  // get no traffic from existing clients. After max_connection_age the server
  // sends GOAWAY and clients reconnect (and re-balance); RPCs in flight may
  // finish for max_connection_age_grace (long: an sd21 restore on a CPU takes
  // minutes). 0 = never.
  double max_connection_age_seconds = 120;
  double max_connection_age_grace_seconds = 900;
  bool warmup = true;
  bool log_requests = true;
  // gRPC server reflection (grpc.reflection.v1alpha.ServerReflection): lists
  // and describes the services to anyone who can connect; off by default.
  bool reflection = false;
  TlsConfig tls;
  MetricsHttpConfig metrics_http;
  HttpConfig http;
  AuthConfig auth;
};

// The folder used when neither the file nor --model names one.
std::string DefaultModelDir();

// Reads `path` over the defaults; unknown keys are errors (typos must not be
// silently ignored).
absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path);

// Parses `codiff-server [--config FILE] [--listen H:P] [--metrics_listen H:P]
// [--http_listen H:P] [--model DIR]`; flags override the file. Returns NotFound("help") for -h.
absl::StatusOr<ServerConfig> ConfigFromCommandLine(int argc, char** argv);

absl::Status ValidateServerConfig(const ServerConfig& config);
// Fills the settings whose default depends on the devices (max_batch_size 0).
void ResolveDeviceDefaults(ServerConfig* config);

inline constexpr char kServerUsage[] =
    "usage: codiff-server [--config FILE] [--listen HOST:PORT] "
    "[--metrics_listen HOST:PORT] [--http_listen HOST:PORT|\"\"] [--model DIR]\n";

}  // namespace codiff::server
