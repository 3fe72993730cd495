// codiff-server: loads a CODiff model folder and serves codiff.v1 over gRPC,
// with Prometheus metrics on a separate port.
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
#include "core/runtime/device_memory.h"
#include "core/runtime/memory_limit.h"
#include "core/runtime/restore_flow.h"
#include "core/runtime/tile_batcher.h"
#include "core/util/status_macros.h"
#include "core/weights/model_folder.h"
#include "server/auth_interceptor.h"
#include "server/bearer_tokens.h"
#include "server/malformed_request_interceptor.h"
#include "server/restoration_service.h"
#include "server/server_config.h"
#include "server/server_metrics.h"
#include "server/work_pool.h"

namespace codiff::server {
namespace {

using runtime::BatcherOptions;
using runtime::TileBatcher;

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

struct LoadedReplicas {
  std::vector<std::unique_ptr<pipeline::Restorer>> restorers;
  ModelFacts facts;
  // What the replicas' largest model calls need above their weights
  // (Restorer::PeakWorkingBytes), kept out of the requests' budget.
  int64_t working_reserve = 0;
};

// limits.max_memory_bytes, or 80% of the cgroup's (or machine's) memory.
int64_t MemoryLimitOf(const ServerConfig& config) {
  return config.limits.max_memory_bytes > 0 ? config.limits.max_memory_bytes
                                            : runtime::AvailableMemoryBytes() / 10 * 8;
}

absl::StatusOr<LoadedReplicas> LoadReplicas(const ServerConfig& config) {
  LoadedReplicas out;
  ASSIGN_OR_RETURN(pipeline::InferenceStrategy strategy,
                   pipeline::ParseInferenceStrategy(config.strategy));
  struct Replica {
    torch::Device device;
    LoadedModel model;
  };
  std::vector<Replica> loaded;
  for (const auto& name : config.devices) {
    ASSIGN_OR_RETURN(torch::Device device, runtime::ParseDevice(name));
    ASSIGN_OR_RETURN(torch::ScalarType dtype, runtime::ParseComputeDtype(config.dtype, device));
    for (int r = 0; r < config.replicas_per_device; ++r) {
      ModelLoadOptions load;
      load.device = device;
      load.dtype = dtype;
      ASSIGN_OR_RETURN(LoadedModel model, LoadModelFolder(config.model_dir, load));
      loaded.push_back({device, std::move(model)});
    }
  }
  // Half of what the weights leave in host memory goes to the CPU replicas'
  // compute (they run at once), half to the admitted requests' images and
  // tiles. A GPU replica's compute is bounded by its GPU's free memory.
  const int64_t left = MemoryLimitOf(config) - runtime::ResidentBytes();
  std::vector<torch::Device> devices;
  for (const Replica& replica : loaded) devices.push_back(replica.device);
  const runtime::ReplicaWorkingMemory working =
      runtime::PlanReplicaWorkingMemory(devices, std::max<int64_t>(left / 2, 1));
  out.facts.compute_memory = working.sources;
  for (size_t i = 0; i < loaded.size(); ++i) {
    Replica& replica = loaded[i];
    LoadedModel& model = replica.model;
    if (out.restorers.empty()) {
      int64_t parameters = 0;
      for (const auto& p : model.generator->parameters()) parameters += p.numel();
      const auto& arch = model.generator->architecture();
      out.facts.preset = arch.preset;
      out.facts.parameters = parameters;
      out.facts.timestep = arch.timestep;
      out.facts.trained = model.provenance.trained;
      out.facts.provenance = model.provenance.description;
      out.facts.model_dir = config.model_dir;
      out.facts.trained_qf_min = model.provenance.trained_qf_min;
      out.facts.trained_qf_max = model.provenance.trained_qf_max;
      out.facts.sources = model.provenance.sources;
      out.facts.perceptual_inert = model.provenance.perceptual_inert;
      out.facts.default_mode = model.provenance.default_mode == "fidelity"
                                   ? pipeline::RestoreMode::kFidelity
                                   : pipeline::RestoreMode::kPerceptual;
    }
    pipeline::RestorerConfig rc;
    rc.device = replica.device;
    rc.strategy = strategy;
    if (config.tile_size > 0) {
      rc.tiles.tile_size = config.tile_size;
      rc.tiles.overlap = config.tile_overlap >= 0 ? config.tile_overlap : config.tile_size / 8;
    }
    rc.max_batch_tiles = config.batching.max_batch_size;
    rc.max_jpeg_quality = model.provenance.trained_qf_max;
    rc.working_memory_bytes = working.bytes[i];
    out.restorers.push_back(std::make_unique<pipeline::Restorer>(model.generator, rc));
    out.working_reserve += replica.device.is_cpu() ? out.restorers.back()->PeakWorkingBytes() : 0;
  }
  out.facts.tiles = out.restorers.front()->default_tiles();
  out.facts.replicas = static_cast<int>(out.restorers.size());
  return out;
}

// The request flow's limits. Called after warm-up, so the memory the model
// and its working memory hold is known: requests get the rest of
// max_memory_bytes.
absl::StatusOr<runtime::FlowConfig> FlowConfigFor(const ServerConfig& config,
                                                  int64_t working_reserve) {
  runtime::FlowConfig flow;
  flow.image_limits.max_bytes = static_cast<uint64_t>(config.limits.max_message_bytes);
  flow.image_limits.max_pixels = static_cast<uint64_t>(config.limits.max_pixels);
  flow.image_limits.max_side = config.limits.max_side;
  flow.max_tile_size = config.limits.max_tile_size;
  const int64_t total = MemoryLimitOf(config);
  const int64_t resident = runtime::ResidentBytes();
  flow.memory_budget_bytes = total - resident - working_reserve;
  LogEvent({{"event", "memory_budget"},
            {"max_memory_bytes", total},
            {"resident_after_warmup", resident},
            {"compute_reserve", working_reserve},
            {"for_requests", flow.memory_budget_bytes}});
  if (flow.memory_budget_bytes < (64ll << 20)) {
    return absl::FailedPreconditionError(
        absl::StrCat("limits.max_memory_bytes (", total, ") leaves ", flow.memory_budget_bytes,
                     " bytes for requests after the model took ", resident, " and its compute ",
                     working_reserve, " bytes; at least 64 MB are needed: raise it"));
  }
  return flow;
}

// One small tile per mode: enough to fault in the weights and initialise the
// allocator and kernels, without running a full batch of full tiles (which
// took half a minute on 2 CPU cores).
absl::Status WarmUp(const LoadedReplicas& replicas) {
  for (const auto& r : replicas.restorers) {
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
  BatcherOptions batcher_options;
  batcher_options.max_batch_size = config.batching.max_batch_size;
  batcher_options.max_queue_delay =
      std::chrono::microseconds(static_cast<int64_t>(config.batching.max_queue_delay_ms * 1000));
  batcher_options.max_queue_size = config.batching.max_queue_size;
  auto batcher = std::make_unique<TileBatcher>(batcher_options, &metrics);
  RestorationService service(config, &metrics);
  std::unique_ptr<runtime::RestoreFlow> flow;

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
  const auto metric_ports = metrics.listening_ports();
  LogEvent({{"event", "listening"},
            {"grpc_port", port},
            {"metrics_port", metric_ports.empty() ? 0 : metric_ports.front()},
            {"tls", config.tls.enabled()},
            {"auth", config.auth.enabled()},
            {"reflection", config.reflection}});

  const auto load_start = Clock::now();
  auto replicas = LoadReplicas(config);
  absl::Status warm = replicas.ok() && config.warmup ? WarmUp(*replicas) : replicas.status();
  if (!warm.ok()) {
    std::fprintf(stderr, "codiff-server: cannot load model %s: %s\n", config.model_dir.c_str(),
                 std::string(warm.message()).c_str());
    server->Shutdown();
    return 1;
  }
  metrics.SetModelInfo(replicas->facts.preset, config.devices.front(), replicas->facts.trained);
  const pipeline::Restorer* preparer = replicas->restorers.front().get();
  ModelFacts facts = replicas->facts;
  auto flow_config = FlowConfigFor(config, replicas->working_reserve);
  if (!flow_config.ok()) {
    std::fprintf(stderr, "codiff-server: %s\n",
                 std::string(flow_config.status().message()).c_str());
    server->Shutdown();
    return 1;
  }
  flow = std::make_unique<runtime::RestoreFlow>(
      *flow_config, batcher.get(),
      [&pool](std::function<void()> task) { pool.Post(std::move(task)); });
  flow->SetPreparer(preparer);
  // model.yaml `perceptual: inert`: perceptual requests run the fidelity path.
  flow->SetPerceptualInert(facts.perceptual_inert);
  batcher->Start(std::move(replicas->restorers));
  service.SetReady(facts, flow.get());
  health->SetServingStatus(kReadinessService, true);
  LogEvent({{"event", "serving"},
            {"model", config.model_dir},
            {"compute_memory", facts.compute_memory},
            {"preset", facts.preset},
            {"parameters", facts.parameters},
            {"trained", facts.trained},
            {"tile_size", facts.tiles.tile_size},
            {"strategy", pipeline::InferenceStrategyName(preparer->strategy())},
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
  batcher.reset();
  return 0;
}

}  // namespace
}  // namespace codiff::server

int main(int argc, char** argv) { return codiff::server::Serve(argc, argv); }
