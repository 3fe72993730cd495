// codiff-train: trains CODiff's two stages from YAML recipes, exports model
// folders and evaluates them. See docs/training.md.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "training/eval_command.h"
#include "training/recipe.h"
#include "training/trainer.h"

namespace {

using codiff::training::EvalOptions;
using codiff::training::Recipe;
using codiff::training::RunOptions;

constexpr char kUsage[] =
    "usage:\n"
    "  codiff-train stage1 --recipe FILE [--resume] [--steps N] [--output DIR] [--threads N]\n"
    "                      [--data DIR] [--val DIR] [--objective dual|explicit|implicit]\n"
    "  codiff-train stage2 --recipe FILE [--resume] [--steps N] [--output DIR] [--threads N]\n"
    "                      [--data DIR] [--val DIR] [--cave PATH]\n"
    "  codiff-train export --run DIR --output MODEL_DIR\n"
    "  codiff-train eval --model DIR --data DIR [--qf 5,10,20,30]\n"
    "                    [--modes perceptual,fidelity] [--color-fix adain|wavelet|none]\n"
    "                    [--spp-qp 2,4,8] [--no-qf] [--no-jpeg-consistency]\n"
    "                    [--json FILE] [--quiet] [--max-images N] [--threads N]\n"
    "      Compresses every image of DIR with libjpeg at each QF, restores it\n"
    "      through the server's Restorer, and prints PSNR / SSIM / PSNR-B (Y)\n"
    "      of the JPEG input, each mode and (with --spp-qp) ffmpeg's spp filter\n"
    "      at its best qp, seconds per megapixel, and CaVE's QF estimate on the\n"
    "      decoded pixels (no JPEG header). --color-fix defaults to each\n"
    "      mode's server default (adain for perceptual, none for fidelity).\n"
    "      --no-jpeg-consistency skips the server's JPEG luma projection.\n";

int Fail(const std::string& message) {
  std::fprintf(stderr, "codiff-train: %s\n", message.c_str());
  return 1;
}

// --name value pairs and bare --flags.
struct Args {
  std::map<std::string, std::string> values;
  bool Has(const std::string& k) const { return values.count(k) > 0; }
  std::string Get(const std::string& k, const std::string& fallback = "") const {
    auto it = values.find(k);
    return it == values.end() ? fallback : it->second;
  }
};

bool ParseArgs(int argc, char** argv, Args* args, std::string* error) {
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      *error = "unexpected argument " + a;
      return false;
    }
    a = a.substr(2);
    if (a == "resume" || a == "quiet" || a == "no-qf" || a == "no-jpeg-consistency") {
      args->values[a] = "1";
    } else if (i + 1 < argc) {
      args->values[a] = argv[++i];
    } else {
      *error = "--" + a + " needs a value";
      return false;
    }
  }
  return true;
}

int RunStage(const std::string& stage, const Args& args) {
  if (!args.Has("recipe")) return Fail("--recipe is required");
  auto recipe = codiff::training::ReadRecipe(args.Get("recipe"), stage);
  if (!recipe.ok()) return Fail(std::string(recipe.status().message()));
  Recipe& r = *recipe;
  if (!r.stage.empty() && r.stage != stage) {
    return Fail("recipe is for " + r.stage + ", not " + stage);
  }
  // Command-line overrides are written back into the stored recipe so a
  // resumed run or an export sees the same values.
  if (args.Has("steps")) {
    int64_t steps = 0;
    if (!absl::SimpleAtoi(args.Get("steps"), &steps)) return Fail("bad --steps");
    r.source["steps"] = steps;
  }
  if (args.Has("threads")) {
    int threads = 0;
    if (!absl::SimpleAtoi(args.Get("threads"), &threads) || threads < 1 || threads > 256) {
      return Fail("bad --threads");
    }
    r.source["threads"] = threads;
  }
  if (args.Has("output")) r.source["output"] = args.Get("output");
  if (args.Has("data")) {
    r.source["data"]["train_dirs"] = std::vector<std::string>{args.Get("data")};
  }
  if (args.Has("val")) r.source["validation"]["dir"] = args.Get("val");
  if (args.Has("objective")) r.source["stage1"]["objective"] = args.Get("objective");
  if (args.Has("cave")) r.source["stage2"]["cave"] = args.Get("cave");
  r.source["stage"] = stage;
  // Re-parse so relative overrides are resolved like the recipe's own paths.
  auto resolved =
      codiff::training::RecipeFromJson(r.source, std::filesystem::current_path().string());
  if (!resolved.ok()) return Fail(std::string(resolved.status().message()));
  RunOptions options;
  options.resume = args.Has("resume");
  options.quiet = args.Has("quiet");
  auto result = stage == "stage1" ? codiff::training::RunStage1(*resolved, options)
                                  : codiff::training::RunStage2(*resolved, options);
  if (!result.ok()) return Fail(std::string(result.status().message()));
  std::fprintf(stderr, "%s finished at step %lld; run directory %s\n", stage.c_str(),
               static_cast<long long>(result->last_step), resolved->output.c_str());
  return 0;
}

absl::StatusOr<std::vector<int>> ParseIntList(const std::string& text, int lo, int hi) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < lo || v > hi) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", part, "' is not an integer in [", lo, ", ", hi, "]"));
    }
    out.push_back(v);
  }
  return out;
}

int RunEvalCommand(const Args& args) {
  EvalOptions o;
  o.model_dir = args.Get("model");
  o.data_dir = args.Get("data");
  if (o.model_dir.empty() || o.data_dir.empty()) return Fail("eval needs --model and --data");
  if (args.Has("qf")) {
    auto qfs = ParseIntList(args.Get("qf"), 1, 100);
    if (!qfs.ok()) return Fail("bad --qf: " + std::string(qfs.status().message()));
    o.qfs = *qfs;
  }
  if (args.Has("spp-qp")) {
    auto qps = ParseIntList(args.Get("spp-qp"), 0, 63);
    if (!qps.ok()) return Fail("bad --spp-qp: " + std::string(qps.status().message()));
    o.spp_qps = *qps;
  }
  if (args.Has("modes")) o.modes = absl::StrSplit(args.Get("modes"), ',', absl::SkipEmpty());
  if (args.Has("color-fix")) o.color_fix = args.Get("color-fix");
  if (args.Has("no-qf")) o.estimate_qf = false;
  if (args.Has("no-jpeg-consistency")) o.jpeg_consistency = false;
  if (args.Has("quiet")) o.progress = false;
  if (args.Has("max-images") && !absl::SimpleAtoi(args.Get("max-images"), &o.max_images)) {
    return Fail("bad --max-images");
  }
  if (args.Has("threads") &&
      (!absl::SimpleAtoi(args.Get("threads"), &o.threads) || o.threads < 1 || o.threads > 256)) {
    return Fail("bad --threads");
  }
  auto report = codiff::training::RunEval(o);
  if (!report.ok()) return Fail(std::string(report.status().message()));
  if (args.Has("json")) {
    std::ofstream out(args.Get("json"));
    out << report->dump(2) << "\n";
    if (!out) return Fail("cannot write " + args.Get("json"));
  }
  std::printf("%zu images, Y channel\n", report->at("images").get<size_t>());
  std::printf("%-4s %-12s %8s %7s %8s %9s\n", "QF", "input", "PSNR", "SSIM", "PSNR-B", "s/MP");
  for (const auto& [qf, entry] : report->items()) {
    if (!entry.is_object()) continue;
    for (const auto& [row, m] : entry.items()) {
      if (!m.contains("psnr")) continue;
      std::string name = row;
      if (m.contains("qp")) name = "spp qp=" + std::to_string(m["qp"].get<int>());
      std::printf("%-4s %-12s %8.3f %7.4f %8.3f %9s\n", qf.c_str(), name.c_str(),
                  m["psnr"].get<double>(), m["ssim"].get<double>(), m["psnrb"].get<double>(),
                  m.contains("s_per_mp")
                      ? absl::StrFormat("%.3f", m["s_per_mp"].get<double>()).c_str()
                      : "-");
    }
    if (entry.contains("qf_estimate")) {
      std::printf("%-4s %-12s MAE %.2f (mean prediction %.1f)\n", qf.c_str(), "QF estimate",
                  entry["qf_estimate"]["mae"].get<double>(),
                  entry["qf_estimate"]["mean"].get<double>());
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  Args args;
  std::string error;
  if (!ParseArgs(argc, argv, &args, &error)) return Fail(error + "\n" + kUsage);
  if (command == "stage1" || command == "stage2") return RunStage(command, args);
  if (command == "export") {
    if (!args.Has("run") || !args.Has("output")) return Fail("export needs --run and --output");
    absl::Status s = codiff::training::ExportRun(args.Get("run"), args.Get("output"));
    if (!s.ok()) return Fail(std::string(s.message()));
    std::fprintf(stderr, "wrote model folder %s\n", args.Get("output").c_str());
    return 0;
  }
  if (command == "eval") return RunEvalCommand(args);
  return Fail("unknown command '" + command + "'\n" + kUsage);
}
