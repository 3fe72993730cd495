// codiff health: asks the standard gRPC health service (grpc.health.v1) for
// the readiness service codiff-server registers. Exit 0 only when SERVING.
//
// Debian's grpc++ ships no client stubs for health.proto, and the messages
// are one field each, so they are encoded here by hand over a GenericStub
// rather than generating a second proto library for the client.
#include <cstdio>
#include <future>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include "client/command_line.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/grpc_status_text.h"

namespace codiff::client {
namespace {

// The name codiff-server marks SERVING once the model is loaded and warm
// (server/server_main.cc); "" is the liveness entry.
constexpr char kReadinessService[] = "codiff.v1.Restoration";

std::vector<OptionSpec> HealthOptionSpecs() {
  std::vector<OptionSpec> specs = {
      {"service", 0, "NAME",
       "health entry to check (default codiff.v1.Restoration, readiness; \"\" = liveness)"},
      {"deadline", 0, "SECONDS", "time allowed for the check (default 5)"},
  };
  for (auto& s : ConnectionOptionSpecs()) specs.push_back(s);
  specs.push_back({"quiet", 'q', "", "print nothing; the exit status tells"});
  specs.push_back({"help", 'h', "", "show this help"});
  return specs;
}

constexpr char kHealthDescription[] =
    "Checks whether codiff-server is ready to serve (grpc.health.v1.Health/Check for\n"
    "the readiness entry codiff.v1.Restoration, which turns SERVING only after the\n"
    "model has loaded and warmed up, and NOT_SERVING while draining). Prints the\n"
    "status.\n"
    "\n"
    "Exit status: 0 SERVING, 1 NOT_SERVING or unknown service, 2 usage error, 3 server\n"
    "unreachable.";

// HealthCheckRequest { string service = 1; }
grpc::ByteBuffer EncodeRequest(const std::string& service) {
  std::string bytes;
  if (!service.empty()) {
    bytes.push_back(0x0a);  // field 1, length-delimited
    uint64_t n = service.size();
    while (n >= 0x80) {
      bytes.push_back(static_cast<char>((n & 0x7f) | 0x80));
      n >>= 7;
    }
    bytes.push_back(static_cast<char>(n));
    bytes += service;
  }
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// HealthCheckResponse { ServingStatus status = 1; }: UNKNOWN = 0, SERVING = 1,
// NOT_SERVING = 2, SERVICE_UNKNOWN = 3. Unknown fields are skipped.
int DecodeStatus(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  size_t pos = 0;
  auto varint = [&](uint64_t* value) {
    *value = 0;
    for (int shift = 0; pos < bytes.size() && shift < 64; shift += 7) {
      const uint8_t b = static_cast<uint8_t>(bytes[pos++]);
      *value |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  int status = 0;  // proto3 default when the field is absent
  while (pos < bytes.size()) {
    uint64_t key = 0, value = 0;
    if (!varint(&key)) return -1;
    switch (key & 7) {
      case 0:
        if (!varint(&value)) return -1;
        if ((key >> 3) == 1) status = static_cast<int>(value);
        break;
      case 1:
        pos += 8;
        break;
      case 2:
        if (!varint(&value)) return -1;
        pos += value;
        break;
      case 5:
        pos += 4;
        break;
      default:
        return -1;
    }
  }
  return pos == bytes.size() ? status : -1;
}

const char* StatusName(int status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return "MALFORMED_RESPONSE";
  }
}

}  // namespace

int HealthCommand(int argc, char** argv) {
  const auto specs = HealthOptionSpecs();
  auto line = CommandLine::Parse(specs, argc, argv);
  if (!line.ok()) return UsageError("health", std::string(line.status().message()));
  if (line->Has("help")) {
    std::fputs(FormatHelp("codiff health [OPTIONS]", kHealthDescription, specs).c_str(), stdout);
    return kExitOk;
  }
  if (!line->positional().empty()) {
    return UsageError("health", "unexpected argument " + line->positional().front());
  }
  auto connection = ConnectionOptionsFrom(*line);
  if (!connection.ok()) return UsageError("health", std::string(connection.status().message()));
  auto deadline = line->GetSeconds("deadline", 5);
  if (!deadline.ok()) return UsageError("health", std::string(deadline.status().message()));
  const bool quiet = line->Has("quiet");
  const std::string service = line->Get("service", kReadinessService);

  auto channel = MakeChannel(*connection);
  if (!channel.ok()) return UsageError("health", std::string(channel.status().message()));
  if (!WaitUntilConnected(**channel, *connection)) {
    if (!quiet) {
      std::fprintf(stderr, "codiff health: cannot reach the server at %s within %.1f s\n",
                   connection->server.c_str(), connection->connect_timeout_s);
    }
    return kExitUnreachable;
  }
  grpc::GenericStub stub(*channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(static_cast<int64_t>(*deadline * 1000)));
  const grpc::ByteBuffer request = EncodeRequest(service);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    // NOT_FOUND is the health service's "no such entry".
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      if (!quiet) std::printf("SERVICE_UNKNOWN\n");
      return kExitSomeFailed;
    }
    if (!quiet) std::fprintf(stderr, "codiff health: %s\n", Describe(status).c_str());
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
               ? kExitUnreachable
               : kExitSomeFailed;
  }
  const int serving = DecodeStatus(response);
  if (!quiet) std::printf("%s\n", StatusName(serving));
  return serving == 1 ? kExitOk : kExitSomeFailed;
}

}  // namespace codiff::client
