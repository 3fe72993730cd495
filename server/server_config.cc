#include "server/server_config.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "core/pipeline/restorer.h"
#include "core/runtime/device.h"
#include "core/util/status_macros.h"

#ifndef CODIFF_DEFAULT_MODEL_DIR
#define CODIFF_DEFAULT_MODEL_DIR "models/default"
#endif

namespace codiff::server {
namespace {

absl::Status CheckKeys(const YAML::Node& node, const std::string& where,
                       const std::set<std::string>& known) {
  if (!node.IsMap()) return absl::InvalidArgumentError(where + " must be a mapping");
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    if (!known.count(key)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown config key ", where, ".", key));
    }
  }
  return absl::OkStatus();
}

template <typename T>
void Read(const YAML::Node& node, const char* key, T* out) {
  if (node[key]) *out = node[key].as<T>();
}

absl::Status ParseYaml(const YAML::Node& root, ServerConfig* c) {
  if (root.IsNull()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckKeys(root, "config",
                            {"listen",
                             "metrics_listen",
                             "http_listen",
                             "model_dir",
                             "devices",
                             "replicas_per_device",
                             "dtype",
                             "strategy",
                             "torch_threads",
                             "tile_size",
                             "tile_overlap",
                             "worker_threads",
                             "batching",
                             "limits",
                             "shutdown_grace_seconds",
                             "max_connection_age_seconds",
                             "max_connection_age_grace_seconds",
                             "warmup",
                             "log_requests",
                             "tls",
                             "reflection",
                             "metrics_http",
                             "http",
                             "auth"}));
  Read(root, "listen", &c->listen);
  Read(root, "metrics_listen", &c->metrics_listen);
  Read(root, "http_listen", &c->http_listen);
  Read(root, "model_dir", &c->model_dir);
  Read(root, "devices", &c->devices);
  Read(root, "replicas_per_device", &c->replicas_per_device);
  Read(root, "dtype", &c->dtype);
  Read(root, "strategy", &c->strategy);
  Read(root, "torch_threads", &c->torch_threads);
  Read(root, "tile_size", &c->tile_size);
  Read(root, "tile_overlap", &c->tile_overlap);
  Read(root, "worker_threads", &c->worker_threads);
  Read(root, "shutdown_grace_seconds", &c->shutdown_grace_seconds);
  Read(root, "max_connection_age_seconds", &c->max_connection_age_seconds);
  Read(root, "max_connection_age_grace_seconds", &c->max_connection_age_grace_seconds);
  Read(root, "warmup", &c->warmup);
  Read(root, "log_requests", &c->log_requests);
  Read(root, "reflection", &c->reflection);
  if (const auto m = root["metrics_http"]) {
    RETURN_IF_ERROR(CheckKeys(m, "metrics_http",
                              {"max_connections", "request_timeout_seconds", "max_request_bytes"}));
    Read(m, "max_connections", &c->metrics_http.max_connections);
    Read(m, "request_timeout_seconds", &c->metrics_http.request_timeout_seconds);
    Read(m, "max_request_bytes", &c->metrics_http.max_request_bytes);
  }
  if (const auto h = root["http"]) {
    RETURN_IF_ERROR(CheckKeys(h, "http",
                              {"max_connections", "header_timeout_seconds", "body_timeout_seconds",
                               "idle_timeout_seconds", "max_header_bytes", "io_threads"}));
    Read(h, "max_connections", &c->http.max_connections);
    Read(h, "header_timeout_seconds", &c->http.header_timeout_seconds);
    Read(h, "body_timeout_seconds", &c->http.body_timeout_seconds);
    Read(h, "idle_timeout_seconds", &c->http.idle_timeout_seconds);
    Read(h, "max_header_bytes", &c->http.max_header_bytes);
    Read(h, "io_threads", &c->http.io_threads);
  }
  if (const auto a = root["auth"]) {
    RETURN_IF_ERROR(CheckKeys(a, "auth", {"token_file", "exempt_services"}));
    Read(a, "token_file", &c->auth.token_file);
    Read(a, "exempt_services", &c->auth.exempt_services);
  }
  if (const auto b = root["batching"]) {
    RETURN_IF_ERROR(
        CheckKeys(b, "batching", {"max_batch_size", "max_queue_delay_ms", "max_queue_size"}));
    Read(b, "max_batch_size", &c->batching.max_batch_size);
    Read(b, "max_queue_delay_ms", &c->batching.max_queue_delay_ms);
    Read(b, "max_queue_size", &c->batching.max_queue_size);
  }
  if (const auto l = root["limits"]) {
    RETURN_IF_ERROR(CheckKeys(l, "limits",
                              {"max_message_bytes", "max_pixels", "max_side", "max_in_flight",
                               "max_memory_bytes", "max_tile_size"}));
    Read(l, "max_message_bytes", &c->limits.max_message_bytes);
    Read(l, "max_pixels", &c->limits.max_pixels);
    Read(l, "max_side", &c->limits.max_side);
    Read(l, "max_in_flight", &c->limits.max_in_flight);
    Read(l, "max_memory_bytes", &c->limits.max_memory_bytes);
    Read(l, "max_tile_size", &c->limits.max_tile_size);
  }
  if (const auto t = root["tls"]) {
    RETURN_IF_ERROR(CheckKeys(t, "tls", {"cert_file", "key_file", "client_ca_file"}));
    Read(t, "cert_file", &c->tls.cert_file);
    Read(t, "key_file", &c->tls.key_file);
    Read(t, "client_ca_file", &c->tls.client_ca_file);
  }
  return absl::OkStatus();
}

}  // namespace

std::string DefaultModelDir() { return CODIFF_DEFAULT_MODEL_DIR; }

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  ServerConfig config;
  try {
    RETURN_IF_ERROR(ParseYaml(YAML::LoadFile(path), &config));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config ", path, ": ", e.what()));
  }
  return config;
}

absl::StatusOr<ServerConfig> ConfigFromCommandLine(int argc, char** argv) {
  std::string config_path;
  std::vector<std::pair<std::string, std::string>> flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") return absl::NotFoundError("help");
    if (arg.rfind("--", 0) != 0) return absl::InvalidArgumentError("unexpected argument " + arg);
    std::string name = arg.substr(2), value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(arg + " needs a value");
    }
    if (name == "config") {
      config_path = value;
    } else if (name == "listen" || name == "metrics_listen" || name == "http_listen" ||
               name == "model") {
      flags.emplace_back(name, value);
    } else {
      return absl::InvalidArgumentError("unknown flag --" + name);
    }
  }
  ServerConfig config;
  if (!config_path.empty()) {
    ASSIGN_OR_RETURN(config, LoadServerConfig(config_path));
  }
  for (const auto& [name, value] : flags) {
    if (name == "listen") config.listen = value;
    if (name == "metrics_listen") config.metrics_listen = value;
    if (name == "http_listen") config.http_listen = value;
    if (name == "model") config.model_dir = value;
  }
  if (config.model_dir.empty()) config.model_dir = DefaultModelDir();
  ResolveDeviceDefaults(&config);
  RETURN_IF_ERROR(ValidateServerConfig(config));
  return config;
}

void ResolveDeviceDefaults(ServerConfig* c) {
  if (c->batching.max_batch_size != 0) return;
  const bool all_cpu = std::all_of(c->devices.begin(), c->devices.end(),
                                   [](const std::string& d) { return d == "cpu"; });
  c->batching.max_batch_size = all_cpu ? 1 : 8;
}

absl::Status ValidateServerConfig(const ServerConfig& c) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError("config: " + what); };
  if (c.listen.empty() || c.listen.find(':') == std::string::npos)
    return bad("listen must be HOST:PORT");
  if (c.metrics_listen.empty() || c.metrics_listen.find(':') == std::string::npos)
    return bad("metrics_listen must be HOST:PORT");
  if (!c.http_listen.empty() && c.http_listen.find(':') == std::string::npos)
    return bad("http_listen must be HOST:PORT, or empty to turn HTTP off");
  if (c.devices.empty()) return bad("devices must name at least one device");
  for (const std::string& name : c.devices) {
    auto device = runtime::ParseDevice(name);
    if (!device.ok()) return device.status();
    auto dtype = runtime::ParseComputeDtype(c.dtype, *device);
    if (!dtype.ok()) return dtype.status();
  }
  if (auto strategy = pipeline::ParseInferenceStrategy(c.strategy); !strategy.ok()) {
    return bad(std::string(strategy.status().message()));
  }
  if (c.replicas_per_device < 1 || c.replicas_per_device > 16)
    return bad("replicas_per_device must be 1..16");
  if (c.torch_threads < 0) return bad("torch_threads must be >= 0");
  if (c.tile_size != 0 && (c.tile_size < 64 || c.tile_size % 32 != 0))
    return bad("tile_size must be 0 or a multiple of 32 that is >= 64");
  if (c.worker_threads < 1 || c.worker_threads > 256) return bad("worker_threads must be 1..256");
  if (c.batching.max_batch_size < 0 || c.batching.max_batch_size > 1024)
    return bad("batching.max_batch_size must be 0..1024 (0 = by device)");
  if (c.batching.max_queue_delay_ms < 0 || c.batching.max_queue_delay_ms > 10'000)
    return bad("batching.max_queue_delay_ms must be 0..10000");
  if (c.batching.max_queue_size < 1) return bad("batching.max_queue_size must be >= 1");
  if (c.limits.max_message_bytes < 1024 || c.limits.max_message_bytes > (2047ll << 20))
    return bad("limits.max_message_bytes must be 1 KiB..2047 MiB");
  if (c.limits.max_pixels < 1) return bad("limits.max_pixels must be >= 1");
  if (c.limits.max_side < 1) return bad("limits.max_side must be >= 1");
  if (c.limits.max_in_flight < 1) return bad("limits.max_in_flight must be >= 1");
  if (c.limits.max_memory_bytes < 0) return bad("limits.max_memory_bytes must be >= 0 (0 = auto)");
  if (c.limits.max_tile_size < 0 || c.limits.max_tile_size > 4096)
    return bad("limits.max_tile_size must be 0..4096 (0 = the model's tile size)");
  if (c.shutdown_grace_seconds < 0) return bad("shutdown_grace_seconds must be >= 0");
  if (c.max_connection_age_seconds < 0 || c.max_connection_age_grace_seconds < 0) {
    return bad("max_connection_age_seconds and max_connection_age_grace_seconds must be >= 0");
  }
  if (c.metrics_http.max_connections < 1 || c.metrics_http.max_connections > 4096)
    return bad("metrics_http.max_connections must be 1..4096");
  if (c.metrics_http.request_timeout_seconds <= 0 || c.metrics_http.request_timeout_seconds > 300)
    return bad("metrics_http.request_timeout_seconds must be in (0, 300]");
  if (c.metrics_http.max_request_bytes < 64 || c.metrics_http.max_request_bytes > (1 << 20))
    return bad("metrics_http.max_request_bytes must be 64..1048576");
  if (c.http.max_connections < 1 || c.http.max_connections > 65536)
    return bad("http.max_connections must be 1..65536");
  for (double t :
       {c.http.header_timeout_seconds, c.http.body_timeout_seconds, c.http.idle_timeout_seconds}) {
    if (!(t > 0 && t <= 3600))
      return bad("http.header_, body_ and idle_timeout_seconds must be in (0, 3600]");
  }
  if (c.http.max_header_bytes < 1024 || c.http.max_header_bytes > (1 << 20))
    return bad("http.max_header_bytes must be 1024..1048576");
  if (c.http.io_threads < 1 || c.http.io_threads > 64) return bad("http.io_threads must be 1..64");
  if (c.tls.cert_file.empty() != c.tls.key_file.empty())
    return bad("tls.cert_file and tls.key_file go together");
  if (!c.tls.client_ca_file.empty() && !c.tls.enabled())
    return bad("tls.client_ca_file needs tls.cert_file and tls.key_file");
  // The error_code overloads: a path the OS refuses (too long, no access)
  // is a missing model folder, not an uncaught filesystem_error.
  std::error_code ec;
  if (!std::filesystem::is_directory(c.model_dir, ec) ||
      !std::filesystem::exists(std::filesystem::path(c.model_dir) / "model.yaml", ec)) {
    return absl::NotFoundError(
        absl::StrCat("model folder ", c.model_dir,
                     " not found (no model.yaml); pass --model DIR or set model_dir in the "
                     "config (make a test model with: codiff-model init --preset small "
                     "--seed 1 --out DIR)"));
  }
  return absl::OkStatus();
}

}  // namespace codiff::server
