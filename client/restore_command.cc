// codiff restore: option parsing, input expansion, output planning, and
// the run itself (client/restore_unary.cc, client/restore_stream.cc).
#include <unistd.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/command_line.h"
#include "client/commands.h"
#include "client/connection.h"
#include "client/exit_codes.h"
#include "client/input_expansion.h"
#include "client/output_naming.h"
#include "client/progress_reporter.h"
#include "client/restore_job.h"

namespace codiff::client {
namespace v1 = ::codiff::v1;
namespace {

std::vector<OptionSpec> RestoreOptionSpecs() {
  std::vector<OptionSpec> specs = {
      {"output", 'o', "DIR", "write outputs under DIR (default: next to each input)"},
      {"recursive", 'r', "", "restore the images inside directories, recursively"},
      {"format", 0, "FMT", "png|jpeg|webp: output encoding and extension (default png)"},
      {"quality", 0, "N", "1..100 for jpeg and webp output (default 95)"},
      {"suffix", 0, "TEXT",
       "append TEXT to each output's stem (default: none with -o, \"_restored\" without)"},
      {"mode", 0, "MODE", "perceptual|fidelity (default: the model's, see codiff info)"},
      {"color-fix", 0, "FIX",
       "adain|wavelet|none (default: the server's for the mode, adain for perceptual, none for "
       "fidelity)"},
      {"seed", 0, "N", "seed the diffusion noise (default: deterministic posterior mean)"},
      {"tile-size", 0, "N", "tile side in pixels, a multiple of 32 (default: the server's)"},
      {"no-jpeg-consistency", 0, "",
       "JPEG inputs: skip keeping the output's luma inside the JPEG's quantisation intervals"},
      {"restore-high-quality", 0, "",
       "also restore JPEGs above the model's trained quality (by default they come back as "
       "decoded)"},
      {"metadata", 0, "POLICY",
       "strip|keep: keep also EXIF (orientation reset to 1), XMP and IPTC in the output; the "
       "colour profile is kept either way (default strip)"},
      {"srgb", 0, "",
       "convert outputs of inputs with a non-sRGB colour profile to sRGB and write no profile "
       "(default: keep the input's profile)"},
      {"overwrite", 0, "", "replace outputs that already exist"},
      {"skip-existing", 0, "", "leave existing outputs alone and skip their inputs"},
      {"concurrency", 0, "N", "images in flight at once (default 4)"},
      {"stream", 0, "", "send the images over one RestoreStream call instead of unary calls"},
      {"deadline", 0, "SECONDS",
       "time allowed per image and attempt (default: 120 plus 6 per megapixel; with --stream "
       "600 per round of --concurrency images)"},
      {"retries", 0, "N", "retries per image on UNAVAILABLE or RESOURCE_EXHAUSTED (default 4)"},
      {"backoff", 0, "SECONDS",
       "first retry delay; doubles per retry, jittered, at most 10 s (default 0.25)"},
  };
  for (auto& s : ConnectionOptionSpecs()) specs.push_back(s);
  specs.push_back({"quiet", 'q', "", "print failures only: no progress, no summary"});
  specs.push_back({"verbose", 'v', "", "also print every file and every retry"});
  specs.push_back({"help", 'h', "", "show this help"});
  return specs;
}

constexpr char kRestoreDescription[] =
    "Removes JPEG compression artifacts from each INPUT with codiff-server and writes\n"
    "the restored image. INPUT is a file, a glob pattern, a directory (with -r), or -\n"
    "(read stdin, write the result to stdout). Outputs keep the input's stem and, for\n"
    "directories, its path below the directory; --format sets the extension. Each\n"
    "output is written to a temporary file and renamed into place, so no partial file\n"
    "is ever left behind; inputs are never overwritten, and existing outputs are\n"
    "refused unless --overwrite or --skip-existing.\n"
    "\n"
    "Exit status: 0 all restored (or skipped), 1 some inputs failed (each is named\n"
    "with its reason), 2 usage error, 3 server unreachable.";

struct ParsedRestore {
  std::vector<std::string> inputs;
  bool recursive = false;
  OutputNaming naming;
  ExistingOutput existing = ExistingOutput::kRefuse;
  bool stream = false;
  Verbosity verbosity = Verbosity::kNormal;
  ConnectionOptions connection;
  RestoreJob job;
};

absl::Status ParseRestore(const CommandLine& line, ParsedRestore* out) {
  out->inputs = line.positional();
  if (out->inputs.empty()) return absl::InvalidArgumentError("no INPUT given");
  out->recursive = line.Has("recursive");
  if (line.Has("overwrite") && line.Has("skip-existing")) {
    return absl::InvalidArgumentError("--overwrite and --skip-existing exclude each other");
  }
  out->existing = line.Has("overwrite")       ? ExistingOutput::kOverwrite
                  : line.Has("skip-existing") ? ExistingOutput::kSkip
                                              : ExistingOutput::kRefuse;
  if (line.Has("quiet") && line.Has("verbose")) {
    return absl::InvalidArgumentError("-q and -v exclude each other");
  }
  out->verbosity = line.Has("quiet")     ? Verbosity::kQuiet
                   : line.Has("verbose") ? Verbosity::kVerbose
                                         : Verbosity::kNormal;
  out->stream = line.Has("stream");

  auto format = line.GetChoice("format", "png", {"png", "jpeg", "webp"});
  if (!format.ok()) return format.status();
  if (line.Has("output")) {
    if (line.Get("output").empty()) return absl::InvalidArgumentError("-o needs a directory");
    out->naming.out_dir = line.Get("output");
  }
  out->naming.extension = ExtensionForFormat(*format);
  out->naming.suffix = line.Get("suffix", out->naming.out_dir ? "" : "_restored");
  if (out->naming.suffix.find('/') != std::string::npos) {
    return absl::InvalidArgumentError("--suffix must not contain '/'");
  }

  auto& options = out->job.options;
  options.set_output_format(*format == "jpeg"   ? v1::IMAGE_FORMAT_JPEG
                            : *format == "webp" ? v1::IMAGE_FORMAT_WEBP
                                                : v1::IMAGE_FORMAT_PNG);
  auto quality = line.GetInt("quality", 0, 1, 100);
  if (!quality.ok()) return quality.status();
  options.set_output_quality(*quality);
  auto mode = line.GetChoice("mode", "", {"perceptual", "fidelity"});
  if (!mode.ok()) return mode.status();
  if (!mode->empty()) {
    options.set_mode(*mode == "fidelity" ? v1::RESTORE_MODE_FIDELITY : v1::RESTORE_MODE_PERCEPTUAL);
  }  // else UNSPECIFIED: the served model's default mode
  if (line.Has("color-fix")) {
    auto fix = line.GetChoice("color-fix", "adain", {"adain", "wavelet", "none"});
    if (!fix.ok()) return fix.status();
    options.set_color_fix(*fix == "wavelet" ? v1::COLOR_FIX_WAVELET
                          : *fix == "none"  ? v1::COLOR_FIX_NONE
                                            : v1::COLOR_FIX_ADAIN);
  }
  if (line.Has("seed")) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(line.Get("seed"), &seed)) {
      return absl::InvalidArgumentError("--seed must be a non-negative integer");
    }
    options.set_seed(seed);
  }
  auto tile = line.GetInt("tile-size", 0, 32, 1 << 14);
  if (!tile.ok()) return tile.status();
  if (*tile % 32 != 0) return absl::InvalidArgumentError("--tile-size must be a multiple of 32");
  options.set_tile_size(*tile);
  options.set_skip_jpeg_consistency(line.Has("no-jpeg-consistency"));
  options.set_restore_high_quality_jpeg(line.Has("restore-high-quality"));
  auto metadata = line.GetChoice("metadata", "strip", {"strip", "keep"});
  if (!metadata.ok()) return metadata.status();
  options.set_metadata(*metadata == "keep" ? v1::METADATA_POLICY_KEEP : v1::METADATA_POLICY_STRIP);
  options.set_output_color(line.Has("srgb") ? v1::OUTPUT_COLOR_SRGB
                                            : v1::OUTPUT_COLOR_KEEP_PROFILE);

  auto concurrency = line.GetInt("concurrency", 4, 1, 256);
  if (!concurrency.ok()) return concurrency.status();
  out->job.concurrency = *concurrency;
  auto deadline = line.GetSeconds("deadline", 0);
  if (!deadline.ok()) return deadline.status();
  out->job.deadline_s = *deadline;
  auto retries = line.GetInt("retries", 4, 0, 100);
  if (!retries.ok()) return retries.status();
  out->job.retry.max_retries = *retries;
  auto backoff = line.GetSeconds("backoff", 0.25);
  if (!backoff.ok()) return backoff.status();
  out->job.retry.initial_backoff_s = *backoff;
  out->job.overwrite = out->existing == ExistingOutput::kOverwrite;

  auto connection = ConnectionOptionsFrom(line);
  if (!connection.ok()) return connection.status();
  out->connection = *connection;
  return absl::OkStatus();
}

}  // namespace

int RestoreCommand(int argc, char** argv) {
  const auto specs = RestoreOptionSpecs();
  auto line = CommandLine::Parse(specs, argc, argv);
  if (!line.ok()) return UsageError("restore", std::string(line.status().message()));
  if (line->Has("help")) {
    std::fputs(
        FormatHelp("codiff restore [OPTIONS] INPUT... [-o OUTDIR]", kRestoreDescription, specs)
            .c_str(),
        stdout);
    return kExitOk;
  }
  ParsedRestore parsed;
  if (absl::Status s = ParseRestore(*line, &parsed); !s.ok()) {
    return UsageError("restore", std::string(s.message()));
  }

  const ExpandedInputs expanded = ExpandInputs(parsed.inputs, parsed.recursive);
  const OutputPlan plan = PlanOutputs(expanded.inputs, parsed.naming, parsed.existing);
  const int total = static_cast<int>(expanded.inputs.size() + expanded.problems.size());
  ProgressReporter progress(total, parsed.verbosity, isatty(STDERR_FILENO) == 1);
  for (const auto& p : expanded.problems) progress.Failed(p.argument, p.reason);
  for (const auto& r : plan.failed) progress.Failed(r.input, r.reason);
  for (const auto& r : plan.skipped) progress.Skipped(r.input, r.reason);

  if (!plan.work.empty()) {
    auto channel = MakeChannel(parsed.connection);
    if (!channel.ok()) return UsageError("restore", std::string(channel.status().message()));
    if (!WaitUntilConnected(**channel, parsed.connection)) {
      std::fprintf(stderr, "codiff restore: cannot reach the server at %s within %.1f s%s\n",
                   parsed.connection.server.c_str(), parsed.connection.connect_timeout_s,
                   parsed.connection.tls ? " (TLS: check --ca, --cert and --key too)" : "");
      return kExitUnreachable;
    }
    auto stub = v1::Restoration::NewStub(*channel);
    parsed.job.work = plan.work;
    UnavailableBreaker breaker(std::max(8, 2 * parsed.job.concurrency));
    progress.Start();
    if (parsed.stream) {
      RunStreaming(*stub, parsed.job, progress, breaker);
    } else {
      RunUnary(*stub, parsed.job, progress, breaker);
    }
  }
  progress.Finish();
  return progress.failed() > 0 ? kExitSomeFailed : kExitOk;
}

}  // namespace codiff::client
