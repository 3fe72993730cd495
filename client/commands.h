// The subcommands. Each takes argv with argv[0] = the subcommand's name and
// returns the process exit code (client/exit_codes.h).
#pragma once

#include <string>

namespace codiff::client {

int RestoreCommand(int argc, char** argv);
int QfCommand(int argc, char** argv);
int HealthCommand(int argc, char** argv);
int InfoCommand(int argc, char** argv);
int BenchCommand(int argc, char** argv);
int LoadCommand(int argc, char** argv);

// Prints "codiff <command>: <message>" and a pointer to --help; returns 2.
int UsageError(const char* command, const std::string& message);

}  // namespace codiff::client
