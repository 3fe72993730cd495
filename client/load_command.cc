// codiff load: drives the server's Restore with N concurrent callers for S
// seconds from a folder of images (optionally a share of bad inputs) and
// reports what a backend team sizes a deployment by: throughput, latency
// percentiles, status counts, and the server's memory when it runs here.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "client/command_line.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/grpc_status_text.h"
#include "client/input_expansion.h"
#include "client/input_reader.h"
#include "client/latency_stats.h"
#include "client/process_rss.h"
#include "codiff/v1/codiff.grpc.pb.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;
namespace {

using Clock = std::chrono::steady_clock;

std::vector<OptionSpec> LoadOptionSpecs() {
  std::vector<OptionSpec> specs = {
      {"concurrency", 'c', "N", "concurrent callers, each one request at a time (default 4)"},
      {"duration", 'd', "SECONDS", "how long to start new requests (default 60)"},
      {"bad-share", 0, "FRACTION",
       "share of requests sent with a broken image (truncated or random bytes), 0..1 "
       "(default 0)"},
      {"mode", 0, "perceptual|fidelity", "restore mode (default: the served model's)"},
      {"deadline", 0, "SECONDS", "time allowed per request (default 120)"},
      {"server-pid", 0, "PID",
       "read this process's memory from /proc (default: the process listening on the "
       "--server port, when that is on this machine's loopback)"},
      {"seed", 0, "N", "seed for which requests are bad (default 1)"},
      {"json", 0, "", "print the results as JSON"},
      {"quiet", 'q', "", "no progress lines on stderr"},
  };
  for (auto& s : ConnectionOptionSpecs()) specs.push_back(s);
  specs.push_back({"help", 'h', "", "show this help"});
  return specs;
}

constexpr char kLoadDescription[] =
    "Sends the images in FOLDER (walked recursively; files with an image extension)\n"
    "to the server's Restore from CONCURRENCY callers at once, each starting its next\n"
    "request when the last one answers, for DURATION seconds; requests still running\n"
    "then are waited for and counted. Prints requests and restored images per second,\n"
    "the p50/p95/p99/max latency of the restored images (as the client sees it:\n"
    "upload, queue, compute, download), the status counts of good and bad inputs,\n"
    "and, when the server runs on this machine, its resident memory (start, end,\n"
    "largest sample, and the kernel's high-water mark).\n"
    "\n"
    "Exit status: 0 the run completed (whatever the statuses), 2 usage error,\n"
    "3 server unreachable.";

struct Outcome {
  bool bad = false;
  grpc::StatusCode code = grpc::StatusCode::OK;
  double seconds = 0;
  int64_t pixels = 0;
};

// A broken copy of `image`: its first third (a truncated file), or as many
// random bytes.
std::string BrokenInput(const std::string& image, std::mt19937_64& rng) {
  const size_t size = std::max<size_t>(image.size() / 3, 16);
  if (rng() % 2 == 0) return image.substr(0, size);
  std::string noise(size, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  return noise;
}

std::string Megabytes(int64_t bytes) { return absl::StrFormat("%.0f MB", bytes / 1e6); }

}  // namespace

int LoadCommand(int argc, char** argv) {
  const auto specs = LoadOptionSpecs();
  auto line = CommandLine::Parse(specs, argc, argv);
  if (!line.ok()) return UsageError("load", std::string(line.status().message()));
  if (line->Has("help")) {
    std::fputs(FormatHelp("codiff load FOLDER [OPTIONS]", kLoadDescription, specs).c_str(), stdout);
    return kExitOk;
  }
  if (line->positional().size() != 1) return UsageError("load", "give exactly one FOLDER");
  auto concurrency = line->GetInt("concurrency", 4, 1, 1024);
  auto duration = line->GetSeconds("duration", 60);
  auto deadline = line->GetSeconds("deadline", 120);
  auto seed = line->GetInt("seed", 1, 0, 1 << 30);
  auto mode = line->GetChoice("mode", "", {"perceptual", "fidelity"});
  auto connection = ConnectionOptionsFrom(*line);
  for (const absl::Status& s : {concurrency.status(), duration.status(), deadline.status(),
                                seed.status(), mode.status(), connection.status()}) {
    if (!s.ok()) return UsageError("load", std::string(s.message()));
  }
  double bad_share = 0;
  if (line->Has("bad-share") &&
      (!absl::SimpleAtod(line->Get("bad-share"), &bad_share) || bad_share < 0 || bad_share > 1)) {
    return UsageError("load", "--bad-share must be a number in 0..1");
  }
  std::optional<pid_t> server_pid;
  if (line->Has("server-pid")) {
    int pid = 0;
    if (!absl::SimpleAtoi(line->Get("server-pid"), &pid) || pid <= 0) {
      return UsageError("load", "--server-pid must be a process id");
    }
    server_pid = pid;
  } else if (auto port = LoopbackPort(connection->server)) {
    server_pid = FindListeningProcess(*port);
  }

  const ExpandedInputs found = ExpandInputs({line->positional().front()}, /*recursive=*/true);
  for (const InputProblem& p : found.problems) {
    return UsageError("load", p.argument + ": " + p.reason);
  }
  std::vector<std::string> images;
  for (const Input& input : found.inputs) {
    auto bytes = ReadInput(input);
    if (!bytes.ok()) {
      std::fprintf(stderr, "codiff load: skipping %s: %s\n", input.display().c_str(),
                   std::string(bytes.status().message()).c_str());
      continue;
    }
    images.push_back(*std::move(bytes));
  }
  if (images.empty()) return UsageError("load", "no readable image in " + line->positional()[0]);

  auto channel = MakeChannel(*connection);
  if (!channel.ok()) return UsageError("load", std::string(channel.status().message()));
  if (!WaitUntilConnected(**channel, *connection)) {
    std::fprintf(stderr, "codiff load: cannot reach the server at %s within %.1f s\n",
                 connection->server.c_str(), connection->connect_timeout_s);
    return kExitUnreachable;
  }
  auto stub = v1::Restoration::NewStub(*channel);
  v1::RestoreMode mode_value = v1::RESTORE_MODE_UNSPECIFIED;
  if (*mode == "perceptual") mode_value = v1::RESTORE_MODE_PERCEPTUAL;
  if (*mode == "fidelity") mode_value = v1::RESTORE_MODE_FIDELITY;

  const bool quiet = line->Has("quiet");
  // Plain values and a flag: GCC 12 warns (falsely) about optionals here.
  ProcessMemory memory_start, memory_end;
  bool memory_known = false;
  if (server_pid) {
    if (auto m = ReadProcessMemory(*server_pid)) {
      memory_start = *m;
      memory_known = true;
    }
  }
  std::atomic<int64_t> rss_max{memory_start.rss_bytes};

  std::mutex mutex;
  std::vector<Outcome> outcomes;
  std::atomic<uint64_t> next_image{0};
  std::atomic<bool> stop_sampling{false};
  const auto start = Clock::now();
  const auto end = start + std::chrono::milliseconds(static_cast<int64_t>(*duration * 1000));

  std::thread sampler([&] {
    auto next_progress = start + std::chrono::seconds(10);
    while (!stop_sampling.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      if (server_pid) {
        if (auto m = ReadProcessMemory(*server_pid)) {
          int64_t seen = rss_max.load();
          while (m->rss_bytes > seen && !rss_max.compare_exchange_weak(seen, m->rss_bytes)) {
          }
        }
      }
      if (!quiet && Clock::now() >= next_progress && Clock::now() < end) {
        next_progress += std::chrono::seconds(10);
        std::lock_guard<std::mutex> lock(mutex);
        std::fprintf(stderr, "codiff load: %.0f s, %zu requests answered\n",
                     std::chrono::duration<double>(Clock::now() - start).count(), outcomes.size());
      }
    }
  });

  std::vector<std::thread> callers;
  for (int c = 0; c < *concurrency; ++c) {
    callers.emplace_back([&, c] {
      std::mt19937_64 rng(static_cast<uint64_t>(*seed) * 1000003u + static_cast<uint64_t>(c));
      std::uniform_real_distribution<double> uniform(0, 1);
      while (Clock::now() < end) {
        const std::string& image = images[next_image.fetch_add(1) % images.size()];
        Outcome outcome;
        outcome.bad = bad_share > 0 && uniform(rng) < bad_share;
        v1::RestoreRequest request;
        request.set_image(outcome.bad ? BrokenInput(image, rng) : image);
        request.mutable_options()->set_mode(mode_value);
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(static_cast<int64_t>(*deadline * 1000)));
        v1::RestoreResponse response;
        const auto t0 = Clock::now();
        const grpc::Status status = stub->Restore(&context, request, &response);
        outcome.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
        outcome.code = status.error_code();
        outcome.pixels = static_cast<int64_t>(response.width()) * response.height();
        std::lock_guard<std::mutex> lock(mutex);
        outcomes.push_back(outcome);
      }
    });
  }
  for (auto& t : callers) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  stop_sampling.store(true);
  sampler.join();
  if (memory_known) {
    auto m = ReadProcessMemory(*server_pid);
    memory_known = m.has_value();
    if (m) memory_end = *m;
  }

  std::vector<double> latencies;
  std::map<std::string, int> good_codes, bad_codes;
  int64_t restored = 0, pixels = 0;
  for (const Outcome& o : outcomes) {
    (o.bad ? bad_codes : good_codes)[CodeName(o.code)]++;
    if (!o.bad && o.code == grpc::StatusCode::OK) {
      ++restored;
      pixels += o.pixels;
      latencies.push_back(o.seconds);
    }
  }
  const double p50 = Percentile(latencies, 50), p95 = Percentile(latencies, 95),
               p99 = Percentile(latencies, 99),
               worst =
                   latencies.empty() ? 0 : *std::max_element(latencies.begin(), latencies.end());
  const double requests_per_s = outcomes.size() / elapsed;
  const double images_per_s = restored / elapsed;

  if (line->Has("json")) {
    nlohmann::json j = {
        {"server", connection->server},
        {"callers", *concurrency},
        {"duration_s", *duration},
        {"elapsed_s", elapsed},
        {"images_in_folder", images.size()},
        {"bad_share", bad_share},
        {"requests", outcomes.size()},
        {"requests_per_s", requests_per_s},
        {"restored", restored},
        {"restored_per_s", images_per_s},
        {"megapixels_per_s", pixels / 1e6 / elapsed},
        {"latency_s", {{"p50", p50}, {"p95", p95}, {"p99", p99}, {"max", worst}}},
        {"status_good_inputs", good_codes},
        {"status_bad_inputs", bad_codes},
    };
    if (memory_known) {
      j["server_pid"] = *server_pid;
      j["server_rss_bytes"] = {{"start", memory_start.rss_bytes},
                               {"end", memory_end.rss_bytes},
                               {"max_sampled", rss_max.load()},
                               {"high_water_mark", memory_end.peak_bytes}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  auto codes_text = [](const std::map<std::string, int>& codes) {
    std::string text;
    for (const auto& [code, count] : codes) {
      absl::StrAppendFormat(&text, "%s%s %d", text.empty() ? "" : ", ", code, count);
    }
    return text.empty() ? std::string("none") : text;
  };
  std::printf("codiff load: %d callers, %.0f s, %s, %zu images, %.0f%% bad inputs\n", *concurrency,
              *duration, connection->server.c_str(), images.size(), bad_share * 100);
  std::printf("  requests        %zu in %.1f s (%.2f/s)\n", outcomes.size(), elapsed,
              requests_per_s);
  std::printf("  restored        %lld (%.2f images/s, %.2f MP/s)\n",
              static_cast<long long>(restored), images_per_s, pixels / 1e6 / elapsed);
  std::printf("  latency (ok)    p50 %.3f s   p95 %.3f s   p99 %.3f s   max %.3f s\n", p50, p95,
              p99, worst);
  std::printf("  status (good)   %s\n", codes_text(good_codes).c_str());
  if (bad_share > 0) std::printf("  status (bad)    %s\n", codes_text(bad_codes).c_str());
  if (memory_known) {
    std::printf("  server RSS      %s at start, %s at end, %s largest sample, %s peak (pid %d)\n",
                Megabytes(memory_start.rss_bytes).c_str(), Megabytes(memory_end.rss_bytes).c_str(),
                Megabytes(rss_max.load()).c_str(), Megabytes(memory_end.peak_bytes).c_str(),
                static_cast<int>(*server_pid));
  } else {
    std::printf("  server RSS      unknown (not a local server; see --server-pid)\n");
  }
  return kExitOk;
}

}  // namespace codiff::client
