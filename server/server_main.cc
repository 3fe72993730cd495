// codiff-server: loads a CODiff model folder and serves codiff.v1 over gRPC
// and HTTP/1.1 (server/http_api.h), with Prometheus metrics on a separate
// port.
//
// Start-up order matters for orchestrators: the port opens first with the
// readiness service NOT_SERVING (liveness is SERVING), the model loads and
// warms up, and only then does readiness turn SERVING. SIGTERM/SIGINT turns
// readiness NOT_SERVING, answers new work UNAVAILABLE, lets admitted work
// finish within the grace period, and exits 0.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/runtime/cpu_quota.h"
#include "core/runtime/device.h"
#include "core/runtime/served_model.h"
#include "core/util/status_macros.h"
#include "server/auth_interceptor.h"
#include "server/bearer_tokens.h"
#include "server/http_api.h"
#include "server/http_front_end.h"
#include "server/malformed_request_interceptor.h"
#include "server/restoration_service.h"
#include "server/server_config.h"
#include "server/server_metrics.h"
#include "server/work_pool.h"

namespace codiff::server {
namespace {

// The named readiness service; "" is liveness.
constexpr char kReadinessService[] = "codiff.v1.Restoration";

void LogEvent(const nlohmann::json& event) {
  std::fprintf(stderr, "%s\n", event.dump().c_str());
  std::fflush(stderr);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(const TlsConfig& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  ASSIGN_OR_RETURN(std::string cert, ReadFile(tls.cert_file));
  ASSIGN_OR_RETURN(std::string key, ReadFile(tls.key_file));
  options.pem_key_cert_pairs.push_back({key, cert});
  if (!tls.client_ca_file.empty()) {
    ASSIGN_OR_RETURN(options.pem_root_certs, ReadFile(tls.client_ca_file));
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

// Drops the reflection plugin, which gRPC's reflection library adds to every
// ServerBuilder from a static initialiser: reflection is off unless enabled.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->erase(std::remove_if(plugins->begin(), plugins->end(),
                                  [](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
                                    return p->name() == "proto_server_reflection";
                                  }),
                   plugins->end());
  }
};

runtime::ServedModelConfig ServedModelConfigOf(const ServerConfig& config) {
  runtime::ServedModelConfig m;
  m.model_dir = config.model_dir;
  m.devices = config.devices;
  m.replicas_per_device = config.replicas_per_device;
  m.dtype = config.dtype;
  m.strategy = config.strategy;
  m.tile_size = config.tile_size;
  m.tile_overlap = config.tile_overlap;
  m.batching.max_batch_size = config.batching.max_batch_size;
  m.batching.max_queue_delay =
      std::chrono::microseconds(static_cast<int64_t>(config.batching.max_queue_delay_ms * 1000));
  m.batching.max_queue_size = config.batching.max_queue_size;
  m.image_limits.max_bytes = static_cast<uint64_t>(config.limits.max_message_bytes);
  m.image_limits.max_pixels = static_cast<uint64_t>(config.limits.max_pixels);
  m.image_limits.max_side = config.limits.max_side;
  m.max_tile_size = config.limits.max_tile_size;
  m.max_memory_bytes = config.limits.max_memory_bytes;
  m.warmup = config.warmup;
  return m;
}

int Serve(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so that every
  // thread inherits the mask and only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto config_or = ConfigFromCommandLine(argc, argv);
  if (!config_or.ok()) {
    if (absl::IsNotFound(config_or.status()) && config_or.status().message() == "help") {
      std::fputs(kServerUsage, stdout);
      return 0;
    }
    std::fprintf(stderr, "codiff-server: %s\n%s", std::string(config_or.status().message()).c_str(),
                 kServerUsage);
    return 2;
  }
  const ServerConfig config = *std::move(config_or);
  // Set explicitly even for the default: left to LibTorch, the model ran at
  // the speed of one thread on 2 cores (1024x1024 fidelity 4.1 s vs 3.1 s).
  const int torch_threads =
      config.torch_threads > 0 ? config.torch_threads : runtime::AvailableCores();
  torch::set_num_threads(torch_threads);

  ServerMetrics metrics;
  MetricsHttpOptions http;
  http.max_connections = config.metrics_http.max_connections;
  http.request_timeout = std::chrono::milliseconds(
      static_cast<int64_t>(config.metrics_http.request_timeout_seconds * 1000));
  http.max_request_bytes = config.metrics_http.max_request_bytes;
  if (absl::Status exposed = metrics.Expose(config.metrics_listen, http); !exposed.ok()) {
    std::fprintf(stderr, "codiff-server: %s\n", std::string(exposed.message()).c_str());
    return 1;
  }

  WorkPool pool(config.worker_threads);
  RestorationService service(config, &metrics);

  auto credentials = Credentials(config.tls);
  if (!credentials.ok()) {
    std::fprintf(stderr, "codiff-server: TLS: %s\n",
                 std::string(credentials.status().message()).c_str());
    return 2;
  }
  std::shared_ptr<const BearerTokens> tokens;
  if (config.auth.enabled()) {
    auto loaded = BearerTokens::Load(config.auth.token_file);
    if (!loaded.ok()) {
      std::fprintf(stderr, "codiff-server: auth: %s\n",
                   std::string(loaded.status().message()).c_str());
      return 2;
    }
    tokens = std::make_shared<const BearerTokens>(*std::move(loaded));
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  if (config.reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  } else {
    builder.SetOption(std::make_unique<WithoutReflection>());
  }
  // Authentication first: an unauthenticated caller learns nothing else.
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  if (tokens) {
    interceptors.push_back(std::make_unique<AuthInterceptorFactory>(
        tokens, config.auth.exempt_services,
        std::vector<std::string>{codiff::v1::Restoration::service_full_name()},
        [&metrics](const std::string&) { metrics.unauthenticated().Increment(); }));
  }
  interceptors.push_back(std::make_unique<MalformedRequestInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  int port = 0;
  builder.AddListeningPort(config.listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config.limits.max_message_bytes));
  if (config.max_connection_age_seconds > 0) {
    // gRPC adds +-10% jitter, so clients of one pod do not reconnect at once.
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(config.max_connection_age_seconds * 1000));
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                               static_cast<int>(config.max_connection_age_grace_seconds * 1000));
  }
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    std::fprintf(stderr, "codiff-server: cannot listen on %s\n", config.listen.c_str());
    return 1;
  }
  auto* health = server->GetHealthCheckService();
  health->SetServingStatus(kReadinessService, false);
  // The HTTP front end answers plaintext only: with TLS configured it stays
  // off, so that no one reaches the API past the certificate (terminate TLS
  // in front of it, e.g. at the ingress, to serve HTTP as well).
  HttpApi http_api(&service, &metrics, config, tokens);
  std::unique_ptr<HttpFrontEnd> http_server;
  if (!config.http_listen.empty() && !config.tls.enabled()) {
    HttpFrontEndOptions http_options;
    http_options.max_connections = config.http.max_connections;
    auto ms = [](double seconds) {
      return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
    };
    http_options.header_timeout = ms(config.http.header_timeout_seconds);
    http_options.body_timeout = ms(config.http.body_timeout_seconds);
    http_options.idle_timeout = ms(config.http.idle_timeout_seconds);
    http_options.max_header_bytes = static_cast<uint32_t>(config.http.max_header_bytes);
    http_options.io_threads = config.http.io_threads;
    auto started = HttpFrontEnd::Start(
        config.http_listen, [&http_api](const HttpRequest& head) { return http_api.Route(head); },
        http_options);
    if (!started.ok()) {
      std::fprintf(stderr, "codiff-server: %s\n", std::string(started.status().message()).c_str());
      server->Shutdown();
      return 1;
    }
    http_server = *std::move(started);
  } else if (!config.http_listen.empty()) {
    LogEvent({{"event", "http_off"},
              {"reason", "tls is configured and the HTTP front end serves plaintext only"}});
  }
  const auto metric_ports = metrics.listening_ports();
  LogEvent({{"event", "listening"},
            {"grpc_port", port},
            {"http_port", http_server ? http_server->port() : 0},
            {"metrics_port", metric_ports.empty() ? 0 : metric_ports.front()},
            {"tls", config.tls.enabled()},
            {"auth", config.auth.enabled()},
            {"reflection", config.reflection}});

  const auto load_start = Clock::now();
  auto loaded = runtime::ServedModel::Load(
      ServedModelConfigOf(config),
      [&pool](std::function<void()> task) { pool.Post(std::move(task)); }, &metrics);
  if (!loaded.ok()) {
    std::fprintf(stderr, "codiff-server: cannot load model %s: %s\n", config.model_dir.c_str(),
                 std::string(loaded.status().message()).c_str());
    server->Shutdown();
    return 1;
  }
  std::unique_ptr<runtime::ServedModel> model = *std::move(loaded);
  const runtime::MemoryPlan& plan = model->memory();
  LogEvent({{"event", "memory_budget"},
            {"max_memory_bytes", plan.max_memory_bytes},
            {"resident_after_warmup", plan.resident_after_warmup},
            {"compute_reserve", plan.compute_reserve},
            {"for_requests", plan.for_requests}});
  const ModelFacts& facts = model->facts();
  metrics.SetModelInfo(facts.preset, config.devices.front(), facts.trained);
  service.SetReady(facts, &model->flow());
  health->SetServingStatus(kReadinessService, true);
  LogEvent({{"event", "serving"},
            {"model", config.model_dir},
            {"compute_memory", facts.compute_memory},
            {"preset", facts.preset},
            {"parameters", facts.parameters},
            {"trained", facts.trained},
            {"tile_size", facts.tiles.tile_size},
            {"strategy", model->strategy()},
            {"dtype", config.dtype},
            {"libtorch", runtime::LibTorchBuild()},
            {"replicas", facts.replicas},
            {"load_s", std::chrono::duration<double>(Clock::now() - load_start).count()}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  const auto grace_end =
      Clock::now() +
      std::chrono::milliseconds(static_cast<int64_t>(config.shutdown_grace_seconds * 1000));
  LogEvent({{"event", "draining"}, {"signal", signal_number}, {"in_flight", service.in_flight()}});
  health->SetServingStatus(kReadinessService, false);
  service.StartDraining();
  while (service.in_flight() > 0 && Clock::now() < grace_end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int left = service.in_flight();
  // Calls still in gRPC's hands now are refusals being written (draining
  // answers UNAVAILABLE at once); give them the rest of the grace period, at
  // least a second, so a loaded machine does not turn them into CANCELLED.
  // Streams that are idle but open are cut at that deadline; their admitted
  // images are already answered.
  const auto remaining = std::max<std::chrono::steady_clock::duration>(grace_end - Clock::now(),
                                                                       std::chrono::seconds(1));
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(remaining));
  LogEvent({{"event", "stopped"}, {"unfinished", left}});
  if (left > 0) {
    // The grace period is a promise to the orchestrator: do not wait on work
    // that overran it.
    std::fflush(stderr);
    std::_Exit(0);
  }
  server->Wait();
  http_server.reset();
  model.reset();
  return 0;
}

}  // namespace
}  // namespace codiff::server

int main(int argc, char** argv) { return codiff::server::Serve(argc, argv); }
