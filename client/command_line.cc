#include "client/command_line.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace codiff::client {
namespace {

const OptionSpec* FindLong(const std::vector<OptionSpec>& specs, const std::string& name) {
  for (const auto& s : specs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const OptionSpec* FindAlias(const std::vector<OptionSpec>& specs, char alias) {
  for (const auto& s : specs) {
    if (s.alias != 0 && s.alias == alias) return &s;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<CommandLine> CommandLine::Parse(const std::vector<OptionSpec>& specs, int argc,
                                               char** argv) {
  CommandLine out;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
      out.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    const OptionSpec* spec = nullptr;
    std::string inline_value;
    bool has_inline_value = false;
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      if (const auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        has_inline_value = true;
        name = name.substr(0, eq);
      }
      spec = FindLong(specs, name);
      if (spec == nullptr) return absl::InvalidArgumentError("unknown option --" + name);
    } else {
      // -o DIR, -oDIR, or bundled flags such as -rq.
      for (size_t k = 1; k < arg.size(); ++k) {
        const OptionSpec* s = FindAlias(specs, arg[k]);
        if (s == nullptr) {
          return absl::InvalidArgumentError(absl::StrCat("unknown option -", arg.substr(k, 1)));
        }
        if (s->value_name.empty()) {
          out.values_[s->name] = "";
          continue;
        }
        if (k + 1 < arg.size()) {
          out.values_[s->name] = arg.substr(k + 1);
        } else if (i + 1 < argc) {
          out.values_[s->name] = argv[++i];
        } else {
          return absl::InvalidArgumentError(
              absl::StrCat("option -", arg.substr(k, 1), " needs ", s->value_name));
        }
        break;
      }
      continue;
    }
    if (spec->value_name.empty()) {
      if (has_inline_value) {
        return absl::InvalidArgumentError("option --" + spec->name + " takes no value");
      }
      out.values_[spec->name] = "";
    } else if (has_inline_value) {
      out.values_[spec->name] = inline_value;
    } else if (i + 1 < argc) {
      out.values_[spec->name] = argv[++i];
    } else {
      return absl::InvalidArgumentError("option --" + spec->name + " needs " + spec->value_name);
    }
  }
  return out;
}

std::string CommandLine::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int> CommandLine::GetInt(const std::string& name, int fallback, int min,
                                        int max) const {
  if (!Has(name)) return fallback;
  int value = 0;
  if (!absl::SimpleAtoi(Get(name), &value) || value < min || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be an integer in [", min,
                                                   ", ", max, "], got '", Get(name), "'"));
  }
  return value;
}

absl::StatusOr<double> CommandLine::GetSeconds(const std::string& name, double fallback) const {
  if (!Has(name)) return fallback;
  double value = 0;
  if (!absl::SimpleAtod(Get(name), &value) || !std::isfinite(value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a positive number of seconds, got '", Get(name), "'"));
  }
  return value;
}

absl::StatusOr<std::string> CommandLine::GetChoice(const std::string& name,
                                                   const std::string& fallback,
                                                   const std::vector<std::string>& choices) const {
  if (!Has(name)) return fallback;
  const std::string value = Get(name);
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", name, " must be one of ", absl::StrJoin(choices, "|"), ", got '", value, "'"));
  }
  return value;
}

std::string FormatHelp(const std::string& synopsis, const std::string& description,
                       const std::vector<OptionSpec>& specs) {
  std::vector<std::string> left;
  size_t width = 0;
  for (const auto& s : specs) {
    std::string l = s.alias ? absl::StrCat("-", std::string(1, s.alias), ", --", s.name)
                            : absl::StrCat("    --", s.name);
    if (!s.value_name.empty()) absl::StrAppend(&l, " ", s.value_name);
    width = std::max(width, l.size());
    left.push_back(std::move(l));
  }
  std::string out = absl::StrCat("Usage: ", synopsis, "\n\n", description, "\n\nOptions:\n");
  for (size_t i = 0; i < specs.size(); ++i) {
    absl::StrAppend(&out, "  ", left[i], std::string(width - left[i].size() + 2, ' '),
                    specs[i].help, "\n");
  }
  return out;
}

}  // namespace codiff::client
