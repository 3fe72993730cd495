// codiff: command-line client for codiff-server (JPEG artifact removal).
//   codiff restore INPUT... [-o OUTDIR]   restore images
//   codiff qf INPUT... [--json]           header and predicted quality factors
//   codiff health                         readiness (exit 0 only when SERVING)
//   codiff info                           the served model and its settings
//   codiff bench IMAGE                    median Restore wall time per mode
//   codiff load FOLDER                    N concurrent callers for S seconds
#include <cstdio>
#include <cstring>
#include <string>

#include "client/commands.h"
#include "client/exit_codes.h"
#include "client/temp_file_registry.h"

namespace codiff::client {
namespace {

constexpr char kUsage[] =
    "Usage: codiff COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Command-line client for codiff-server (JPEG artifact removal with CODiff).\n"
    "\n"
    "Commands:\n"
    "  restore INPUT... [-o OUTDIR]  restore images (files, globs, directories with -r, -)\n"
    "  qf INPUT... [--json]          JPEG header quality factor and CaVE's prediction\n"
    "  health                        readiness check; exit 0 only when SERVING\n"
    "  info                          the served model, its limits and batching\n"
    "  bench IMAGE [--runs N]        median wall time of Restore in each mode\n"
    "  load FOLDER [-c N] [-d S]     load test: N callers for S seconds; throughput,\n"
    "                                latency percentiles, statuses, server memory\n"
    "\n"
    "The server is --server HOST:PORT, else $CODIFF_SERVER, else localhost:50051.\n"
    "Run 'codiff COMMAND --help' for a command's options.\n"
    "\n"
    "Exit status: 0 success, 1 some inputs failed, 2 usage error, 3 server unreachable.\n";

}  // namespace

int UsageError(const char* command, const std::string& message) {
  std::fprintf(stderr, "codiff %s: %s\nTry 'codiff %s --help'.\n", command, message.c_str(),
               command);
  return kExitUsage;
}

}  // namespace codiff::client

int main(int argc, char** argv) {
  using namespace codiff::client;
  // Before anything else starts a thread (see InstallSignalCleanup).
  TempFileRegistry::InstallSignalCleanup();
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "restore") return RestoreCommand(argc - 1, argv + 1);
  if (command == "qf") return QfCommand(argc - 1, argv + 1);
  if (command == "health") return HealthCommand(argc - 1, argv + 1);
  if (command == "info") return InfoCommand(argc - 1, argv + 1);
  if (command == "bench") return BenchCommand(argc - 1, argv + 1);
  if (command == "load") return LoadCommand(argc - 1, argv + 1);
  std::fprintf(stderr, "codiff: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return kExitUsage;
}
