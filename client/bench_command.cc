// codiff bench: restores one image repeatedly through the server in each mode
// and reports the median wall time per request as the client sees it (upload,
// queue, compute, encode, download), beside the server's own compute time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/command_line.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/grpc_status_text.h"
#include "client/input_expansion.h"
#include "client/input_reader.h"
#include "client/latency_stats.h"
#include "codiff/v1/codiff.grpc.pb.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;
namespace {

std::vector<OptionSpec> BenchOptionSpecs() {
  std::vector<OptionSpec> specs = {
      {"runs", 'n', "N", "timed requests per mode (default 5)"},
      {"warmup", 0, "N", "untimed requests per mode first (default 1)"},
      {"modes", 0, "LIST", "perceptual,fidelity (default both)"},
      {"deadline", 0, "SECONDS", "time allowed per request (default 300)"},
      {"json", 0, "", "print the results as JSON"},
  };
  for (auto& s : ConnectionOptionSpecs()) specs.push_back(s);
  specs.push_back({"help", 'h', "", "show this help"});
  return specs;
}

constexpr char kBenchDescription[] =
    "Sends IMAGE to the server's Restore, one request at a time, WARMUP untimed and\n"
    "RUNS timed times per mode, and prints the median, min and max wall time per\n"
    "request measured by the client, plus the median compute time the server\n"
    "reports. The restored images are discarded.\n"
    "\n"
    "Exit status: 0 done, 1 a request failed, 2 usage error, 3 server unreachable.";

}  // namespace

int BenchCommand(int argc, char** argv) {
  const auto specs = BenchOptionSpecs();
  auto line = CommandLine::Parse(specs, argc, argv);
  if (!line.ok()) return UsageError("bench", std::string(line.status().message()));
  if (line->Has("help")) {
    std::fputs(FormatHelp("codiff bench IMAGE [OPTIONS]", kBenchDescription, specs).c_str(),
               stdout);
    return kExitOk;
  }
  if (line->positional().size() != 1) return UsageError("bench", "give exactly one IMAGE");
  auto runs = line->GetInt("runs", 5, 1, 1000);
  auto warmup = line->GetInt("warmup", 1, 0, 100);
  auto deadline = line->GetSeconds("deadline", 300);
  auto connection = ConnectionOptionsFrom(*line);
  for (const absl::Status& s :
       {runs.status(), warmup.status(), deadline.status(), connection.status()}) {
    if (!s.ok()) return UsageError("bench", std::string(s.message()));
  }
  std::vector<std::string> modes =
      absl::StrSplit(line->Get("modes", "perceptual,fidelity"), ',', absl::SkipEmpty());
  std::vector<v1::RestoreMode> mode_values;
  for (const std::string& m : modes) {
    if (m == "perceptual") {
      mode_values.push_back(v1::RESTORE_MODE_PERCEPTUAL);
    } else if (m == "fidelity") {
      mode_values.push_back(v1::RESTORE_MODE_FIDELITY);
    } else {
      return UsageError("bench", "unknown mode '" + m + "' (perceptual, fidelity)");
    }
  }
  if (modes.empty()) return UsageError("bench", "--modes is empty");

  Input input;
  input.path = line->positional().front();
  auto bytes = ReadInput(input);
  if (!bytes.ok()) {
    return UsageError("bench", input.display() + ": " + std::string(bytes.status().message()));
  }

  auto channel = MakeChannel(*connection);
  if (!channel.ok()) return UsageError("bench", std::string(channel.status().message()));
  if (!WaitUntilConnected(**channel, *connection)) {
    std::fprintf(stderr, "codiff bench: cannot reach the server at %s within %.1f s\n",
                 connection->server.c_str(), connection->connect_timeout_s);
    return kExitUnreachable;
  }
  auto stub = v1::Restoration::NewStub(*channel);

  std::string json = "{";
  for (size_t i = 0; i < modes.size(); ++i) {
    v1::RestoreRequest request;
    request.set_image(*bytes);
    request.mutable_options()->set_mode(mode_values[i]);
    std::vector<double> wall, compute;
    int width = 0, height = 0, tiles = 0;
    for (int r = 0; r < *warmup + *runs; ++r) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(static_cast<int64_t>(*deadline * 1000)));
      v1::RestoreResponse response;
      const auto start = std::chrono::steady_clock::now();
      const grpc::Status status = stub->Restore(&context, request, &response);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!status.ok()) {
        std::fprintf(stderr, "codiff bench: %s: %s\n", modes[i].c_str(), Describe(status).c_str());
        return kExitSomeFailed;
      }
      width = response.width();
      height = response.height();
      tiles = response.tile_count();
      if (r < *warmup) continue;
      wall.push_back(seconds);
      compute.push_back(response.timings().compute_seconds());
    }
    const double median = Median(wall);
    const double low = *std::min_element(wall.begin(), wall.end());
    const double high = *std::max_element(wall.begin(), wall.end());
    if (!line->Has("json")) {
      std::printf(
          "%-10s %dx%d, %d tile(s), %d runs: median %.3f s (min %.3f, max %.3f), "
          "server compute median %.3f s\n",
          modes[i].c_str(), width, height, tiles, *runs, median, low, high, Median(compute));
    }
    absl::StrAppendFormat(&json,
                          "%s\"%s\": {\"width\": %d, \"height\": %d, \"tiles\": %d, \"runs\": %d, "
                          "\"median_s\": %.4f, \"min_s\": %.4f, \"max_s\": %.4f, "
                          "\"compute_median_s\": %.4f}",
                          i ? ", " : "", modes[i], width, height, tiles, *runs, median, low, high,
                          Median(compute));
  }
  json += "}";
  if (line->Has("json")) std::printf("%s\n", json.c_str());
  return kExitOk;
}

}  // namespace codiff::client
