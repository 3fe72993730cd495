// Where each restored image goes: the output folder (or the input's own
// folder), the input's relative path and stem, --suffix, and the extension of
// --format. Also the checks that keep a run from clobbering anything: an
// output that is an input, two inputs mapping to one output, and outputs
// that already exist.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "client/input_expansion.h"

namespace codiff::client {

struct OutputNaming {
  // Unset: next to each input.
  std::optional<std::filesystem::path> out_dir;
  std::string suffix;     // appended to the stem
  std::string extension;  // ".png", ".jpg" or ".webp"
};

enum class ExistingOutput { kRefuse, kSkip, kOverwrite };

// ".png" / ".jpg" / ".webp" for "png" / "jpeg" / "webp".
std::string ExtensionForFormat(const std::string& format);

// OUTDIR/<relative parent>/<stem><suffix><extension>; with no OUTDIR the
// input's own directory.
std::filesystem::path OutputPathFor(const Input& input, const OutputNaming& naming);

struct PlannedImage {
  Input input;
  std::filesystem::path output;  // empty for stdin (written to stdout)
};

struct Rejected {
  std::string input;
  std::string reason;
};

struct OutputPlan {
  std::vector<PlannedImage> work;
  std::vector<Rejected> failed;   // refused before any request
  std::vector<Rejected> skipped;  // --skip-existing
};

OutputPlan PlanOutputs(const std::vector<Input>& inputs, const OutputNaming& naming,
                       ExistingOutput existing);

}  // namespace codiff::client
