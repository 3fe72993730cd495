// codiff qf: the JPEG header's quality factor and CaVE's predicted one, per
// file, as a table or as JSON lines for triage scripts. Requests run
// `concurrency` at a time; results are printed in input order as soon as
// each one (and all before it) is known.
#include <atomic>
#include <cctype>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "client/command_line.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/grpc_status_text.h"
#include "client/input_expansion.h"
#include "client/input_reader.h"
#include "client/rpc_retry.h"
#include "codiff/v1/codiff.grpc.pb.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;
namespace {

std::vector<OptionSpec> QfOptionSpecs() {
  std::vector<OptionSpec> specs = {
      {"json", 0, "", "one JSON object per line instead of a table"},
      {"recursive", 'r', "", "read the images inside directories, recursively"},
      {"concurrency", 0, "N", "requests in flight at once (default 4)"},
      {"deadline", 0, "SECONDS", "time allowed per image and attempt (default 30)"},
      {"retries", 0, "N", "retries on UNAVAILABLE or RESOURCE_EXHAUSTED (default 4)"},
      {"backoff", 0, "SECONDS", "first retry delay, doubled per retry, jittered (default 0.25)"},
  };
  for (auto& s : ConnectionOptionSpecs()) specs.push_back(s);
  specs.push_back({"help", 'h', "", "show this help"});
  return specs;
}

constexpr char kQfDescription[] =
    "Reports, for each INPUT (file, glob, directory with -r, or - for stdin), the JPEG\n"
    "quality factor implied by the file's quantisation tables (exact for files written\n"
    "by libjpeg's jpeg_set_quality, otherwise the nearest standard table) and the\n"
    "quality factor CaVE predicts from the pixels.\n"
    "\n"
    "--json prints one object per line with the keys file, format, width, height,\n"
    "header_qf (null without a JPEG header), header_exact, header_distance,\n"
    "predicted_qf, subsampling, progressive and color_profile (the embedded ICC\n"
    "profile's description, null without one). Failures go to stderr.\n"
    "\n"
    "Exit status: 0 all answered, 1 some inputs failed, 2 usage error, 3 server\n"
    "unreachable.";

struct QfResult {
  bool ok = false;
  std::string error;
  v1::EstimateQFResponse response;
};

double Round2(double x) { return std::round(x * 100) / 100; }

// The proto documents lower-case names ("jpeg"); accept either from the server.
std::string FormatName(const std::string& format) {
  std::string out = format;
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string JsonLine(const std::string& file, const v1::EstimateQFResponse& r) {
  nlohmann::json j;
  j["file"] = file;
  j["format"] = FormatName(r.format());
  j["width"] = r.width();
  j["height"] = r.height();
  j["header_qf"] = r.has_header_qf() ? nlohmann::json(r.header_qf()) : nlohmann::json(nullptr);
  j["header_exact"] = r.has_header_qf() && r.header_qf_exact();
  j["header_distance"] =
      r.has_header_qf() ? nlohmann::json(Round2(r.header_qf_distance())) : nlohmann::json(nullptr);
  j["predicted_qf"] = Round2(r.predicted_qf());
  j["subsampling"] =
      r.subsampling().empty() ? nlohmann::json(nullptr) : nlohmann::json(r.subsampling());
  j["progressive"] = r.progressive();
  j["color_profile"] =
      r.color_profile().empty() ? nlohmann::json(nullptr) : nlohmann::json(r.color_profile());
  return j.dump();
}

std::string TableRow(const std::string& file, int file_width, const v1::EstimateQFResponse& r) {
  const std::string header = r.has_header_qf() ? std::to_string(r.header_qf()) : "-";
  const std::string exact = r.has_header_qf() ? (r.header_qf_exact() ? "yes" : "no") : "-";
  return absl::StrFormat("%-*s  %-6s  %11s  %9s  %-5s  %12.1f  %-11s  %s", file_width, file,
                         FormatName(r.format()), absl::StrFormat("%dx%d", r.width(), r.height()),
                         header, exact, r.predicted_qf(),
                         r.subsampling().empty() ? "-" : r.subsampling(),
                         r.color_profile().empty() ? "-" : r.color_profile());
}

}  // namespace

int QfCommand(int argc, char** argv) {
  const auto specs = QfOptionSpecs();
  auto line = CommandLine::Parse(specs, argc, argv);
  if (!line.ok()) return UsageError("qf", std::string(line.status().message()));
  if (line->Has("help")) {
    std::fputs(FormatHelp("codiff qf [OPTIONS] INPUT...", kQfDescription, specs).c_str(), stdout);
    return kExitOk;
  }
  if (line->positional().empty()) return UsageError("qf", "no INPUT given");
  auto concurrency = line->GetInt("concurrency", 4, 1, 256);
  auto deadline = line->GetSeconds("deadline", 30);
  auto retries = line->GetInt("retries", 4, 0, 100);
  auto backoff = line->GetSeconds("backoff", 0.25);
  auto connection = ConnectionOptionsFrom(*line);
  for (const absl::Status& s : {concurrency.status(), deadline.status(), retries.status(),
                                backoff.status(), connection.status()}) {
    if (!s.ok()) return UsageError("qf", std::string(s.message()));
  }
  RetryPolicy retry;
  retry.max_retries = *retries;
  retry.initial_backoff_s = *backoff;
  const bool json = line->Has("json");

  const ExpandedInputs expanded = ExpandInputs(line->positional(), line->Has("recursive"));
  int failures = 0;
  for (const auto& p : expanded.problems) {
    std::fprintf(stderr, "codiff qf: FAILED %s: %s\n", p.argument.c_str(), p.reason.c_str());
    ++failures;
  }
  const auto& inputs = expanded.inputs;
  if (inputs.empty()) return failures > 0 ? kExitSomeFailed : kExitOk;

  auto channel = MakeChannel(*connection);
  if (!channel.ok()) return UsageError("qf", std::string(channel.status().message()));
  if (!WaitUntilConnected(**channel, *connection)) {
    std::fprintf(stderr, "codiff qf: cannot reach the server at %s within %.1f s\n",
                 connection->server.c_str(), connection->connect_timeout_s);
    return kExitUnreachable;
  }
  auto stub = v1::Restoration::NewStub(*channel);

  std::vector<std::optional<QfResult>> results(inputs.size());
  std::mutex mutex;
  std::condition_variable ready;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < inputs.size(); i = next.fetch_add(1)) {
      QfResult result;
      auto bytes = ReadInput(inputs[i]);
      if (!bytes.ok()) {
        result.error = std::string(bytes.status().message());
      } else {
        v1::EstimateQFRequest request;
        request.set_image(*std::move(bytes));
        const grpc::Status status = CallWithRetries(
            retry, *deadline,
            [&](grpc::ClientContext* context) {
              return stub->EstimateQF(context, request, &result.response);
            },
            [](const grpc::Status&, int, std::chrono::milliseconds) {});
        result.ok = status.ok();
        if (!status.ok()) result.error = Describe(status);
      }
      {
        std::lock_guard<std::mutex> lock(mutex);
        results[i] = std::move(result);
      }
      ready.notify_all();
    }
  };
  const size_t threads = std::min(inputs.size(), static_cast<size_t>(*concurrency));
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) pool.emplace_back(worker);

  int file_width = 4;
  for (const auto& in : inputs) file_width = std::max(file_width, int(in.display().size()));
  if (!json) {
    std::printf("%-*s  %-6s  %11s  %9s  %-5s  %12s  %-11s  %s\n", file_width, "FILE", "FORMAT",
                "SIZE", "HEADER_QF", "EXACT", "PREDICTED_QF", "SUBSAMPLING", "PROFILE");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    QfResult result;
    {
      std::unique_lock<std::mutex> lock(mutex);
      ready.wait(lock, [&] { return results[i].has_value(); });
      result = std::move(*results[i]);
    }
    const std::string name = inputs[i].display();
    if (!result.ok) {
      std::fflush(stdout);
      std::fprintf(stderr, "codiff qf: FAILED %s: %s\n", name.c_str(), result.error.c_str());
      ++failures;
      continue;
    }
    const std::string row =
        json ? JsonLine(name, result.response) : TableRow(name, file_width, result.response);
    std::printf("%s\n", row.c_str());
    std::fflush(stdout);
  }
  for (auto& t : pool) t.join();
  return failures > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace codiff::client
