// codiff info: the served model, its limits and batching settings
// (GetModelInfo), for operators checking a deployment.
#include <cstdio>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/command_line.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/grpc_status_text.h"
#include "client/rpc_retry.h"
#include "codiff/v1/codiff.grpc.pb.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;
namespace {

std::vector<OptionSpec> InfoOptionSpecs() {
  std::vector<OptionSpec> specs = {
      {"json", 0, "", "print the GetModelInfo response as JSON"},
      {"deadline", 0, "SECONDS", "time allowed per attempt (default 10)"},
      {"retries", 0, "N", "retries on UNAVAILABLE or RESOURCE_EXHAUSTED (default 2)"},
  };
  for (auto& s : ConnectionOptionSpecs()) specs.push_back(s);
  specs.push_back({"help", 'h', "", "show this help"});
  return specs;
}

constexpr char kInfoDescription[] =
    "Prints the model codiff-server serves (preset, parameters, whether it is trained,\n"
    "provenance), its limits and its batching settings.\n"
    "\n"
    "Exit status: 0 answered, 1 the server answered with an error (for example still\n"
    "loading), 2 usage error, 3 server unreachable.";

std::string Megabytes(int64_t bytes) {
  return absl::StrFormat("%.0f MiB", static_cast<double>(bytes) / (1 << 20));
}

void PrintInfo(const std::string& server, const v1::GetModelInfoResponse& r) {
  const auto& m = r.model();
  const auto& l = r.limits();
  const auto& b = r.batching();
  std::printf("server       %s (codiff-server %s)\n", server.c_str(), r.server_version().c_str());
  std::printf("model        %s, %s parameters, timestep %lld, %s\n", m.preset().c_str(),
              absl::StrFormat("%.2fM", m.parameters() / 1e6).c_str(),
              static_cast<long long>(m.timestep()),
              m.trained() ? "trained" : "RANDOM WEIGHTS (not trained)");
  std::printf("provenance   %s\n", m.provenance().c_str());
  std::printf("model dir    %s\n", m.model_dir().c_str());
  std::printf("default mode %s (requests without --mode)\n", m.default_mode().c_str());
  if (m.perceptual_inert()) {
    std::printf("perceptual   inert generator: perceptual requests run fidelity (model.yaml)\n");
  }
  for (const auto& source : m.sources()) {
    std::printf("source       %-6s %s  sha256 %s\n", source.role().c_str(), source.path().c_str(),
                source.sha256().c_str());
  }
  if (m.trained_qf_max() > 0) {
    std::printf("trained QF   %d..%d (JPEGs above %d come back unchanged by default)\n",
                m.trained_qf_min(), m.trained_qf_max(), m.trained_qf_max());
  }
  std::printf("limits       message %s, %lld pixels, side %d, %d requests in flight\n",
              Megabytes(l.max_message_bytes()).c_str(), static_cast<long long>(l.max_pixels()),
              l.max_side(), l.max_in_flight());
  std::printf("batching     %d tiles per batch, %.1f ms queue delay, queue %d requests\n",
              b.max_batch_size(), b.max_queue_delay_seconds() * 1000, b.max_queue_size());
  std::printf("tiles        %d px, overlap %d px\n", b.tile_size(), b.tile_overlap());
  std::printf("replicas     %d on %s, %s\n", b.replicas(), absl::StrJoin(b.devices(), ", ").c_str(),
              b.dtype().empty() ? "float32" : b.dtype().c_str());
  for (const auto& m : b.compute_memory()) std::printf("compute mem  %s\n", m.c_str());
}

}  // namespace

int InfoCommand(int argc, char** argv) {
  const auto specs = InfoOptionSpecs();
  auto line = CommandLine::Parse(specs, argc, argv);
  if (!line.ok()) return UsageError("info", std::string(line.status().message()));
  if (line->Has("help")) {
    std::fputs(FormatHelp("codiff info [OPTIONS]", kInfoDescription, specs).c_str(), stdout);
    return kExitOk;
  }
  if (!line->positional().empty()) {
    return UsageError("info", "unexpected argument " + line->positional().front());
  }
  auto connection = ConnectionOptionsFrom(*line);
  auto deadline = line->GetSeconds("deadline", 10);
  auto retries = line->GetInt("retries", 2, 0, 100);
  for (const absl::Status& s : {connection.status(), deadline.status(), retries.status()}) {
    if (!s.ok()) return UsageError("info", std::string(s.message()));
  }
  auto channel = MakeChannel(*connection);
  if (!channel.ok()) return UsageError("info", std::string(channel.status().message()));
  if (!WaitUntilConnected(**channel, *connection)) {
    std::fprintf(stderr, "codiff info: cannot reach the server at %s within %.1f s\n",
                 connection->server.c_str(), connection->connect_timeout_s);
    return kExitUnreachable;
  }
  auto stub = v1::Restoration::NewStub(*channel);
  RetryPolicy retry;
  retry.max_retries = *retries;
  v1::GetModelInfoResponse response;
  const grpc::Status status = CallWithRetries(
      retry, *deadline,
      [&](grpc::ClientContext* context) {
        return stub->GetModelInfo(context, v1::GetModelInfoRequest(), &response);
      },
      [](const grpc::Status&, int, std::chrono::milliseconds) {});
  if (!status.ok()) {
    std::fprintf(stderr, "codiff info: %s\n", Describe(status).c_str());
    return kExitSomeFailed;
  }
  if (line->Has("json")) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    if (!google::protobuf::util::MessageToJsonString(response, &json, options).ok()) {
      std::fprintf(stderr, "codiff info: cannot print the response as JSON\n");
      return kExitSomeFailed;
    }
    std::printf("%s\n", json.c_str());
  } else {
    PrintInfo(connection->server, response);
  }
  return kExitOk;
}

}  // namespace codiff::client
