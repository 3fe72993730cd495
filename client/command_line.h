// A small getopt_long-like parser shared by every subcommand: long options
// (--name VALUE or --name=VALUE), single-letter aliases, flags, positional
// arguments, "--" to end options and "-" as a positional (stdin). Each
// subcommand describes its options once; the same table drives parsing and
// --help, so the two cannot drift apart.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace codiff::client {

struct OptionSpec {
  std::string name;        // long name without dashes: "concurrency"
  char alias = 0;          // single-letter alias ('o' for -o), 0 for none
  std::string value_name;  // empty: a flag without a value
  std::string help;
};

class CommandLine {
 public:
  // argv[0] is the subcommand name and is skipped. A usage problem comes
  // back as InvalidArgument with a message fit for the user.
  static absl::StatusOr<CommandLine> Parse(const std::vector<OptionSpec>& specs, int argc,
                                           char** argv);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  const std::vector<std::string>& positional() const { return positional_; }

  // Typed readers: the option absent gives `fallback`; present but invalid or
  // out of range gives InvalidArgument naming the option.
  absl::StatusOr<int> GetInt(const std::string& name, int fallback, int min, int max) const;
  absl::StatusOr<double> GetSeconds(const std::string& name, double fallback) const;
  // One of `choices`, or `fallback` when absent.
  absl::StatusOr<std::string> GetChoice(const std::string& name, const std::string& fallback,
                                        const std::vector<std::string>& choices) const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// "Usage: ...\n\n<description>\n\nOptions:\n  -o, --output DIR   ...".
std::string FormatHelp(const std::string& synopsis, const std::string& description,
                       const std::vector<OptionSpec>& specs);

}  // namespace codiff::client
