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
#include "training/niqe_fit.h"
#include "training/recipe.h"
#include "training/trainer.h"

namespace {

using codiff::training::EvalOptions;
using codiff::training::Recipe;
using codiff::training::RunOptions;

constexpr char kUsage[] =
    "usage:\n"
    "  codiff-train stage1 --recipe FILE [--resume] [--steps N] [--output DIR] [--threads N]\n"
    "                      [--init-from MODEL_DIR|RUN_DIR|cave.safetensors]\n"
    "                      [--data DIR] [--val DIR] [--objective dual|explicit|implicit]\n"
    "  codiff-train stage2 --recipe FILE [--resume] [--steps N] [--output DIR] [--threads N]\n"
    "                      [--data DIR] [--val DIR] [--cave PATH]\n"
    "  codiff-train export --run DIR --output MODEL_DIR [--generator-from MODEL_DIR]\n"
    "  codiff-train eval --model DIR --data DIR [--qf 5,10,20,30]\n"
    "                    [--modes perceptual,fidelity] [--color-fix adain|wavelet|none]\n"
    "                    [--spp-qp 2,4,8] [--no-qf] [--no-jpeg-consistency]\n"
    "                    [--json FILE] [--quiet] [--max-images N] [--threads N]\n"
    "                    [--niqe-model FILE | --no-niqe] [--double-jpeg 30:10,10:30]\n"
    "                    [--double-jpeg-shift 4]\n"
    "      Compresses every image of DIR with libjpeg at each QF, restores it\n"
    "      through the server's Restorer, and prints PSNR / SSIM / PSNR-B (Y)\n"
    "      of the JPEG input, each mode and (with --spp-qp) ffmpeg's spp filter\n"
    "      at its best qp, seconds per megapixel, and CaVE's QF estimate on the\n"
    "      decoded pixels (no JPEG header). --color-fix defaults to each\n"
    "      mode's server default (adain for perceptual, none for fidelity).\n"
    "      --no-jpeg-consistency skips the server's JPEG luma projection.\n"
    "      NIQE (no reference, lower is more natural) is scored against\n"
    "      --niqe-model (default training/niqe/pristine.json when it exists).\n"
    "      --double-jpeg QF1:QF2,... adds rows for images compressed at QF1,\n"
    "      cropped by --double-jpeg-shift pixels at the top and left (the\n"
    "      second 8x8 grid shifted by that), compressed at QF2. --qf none runs\n"
    "      only those.\n"
    "  codiff-train niqe-fit --data DIR[,DIR...] --out FILE [--list FILE]\n"
    "      Fits NIQE's pristine model on the lossless photos under DIR (the\n"
    "      sharpest 96 px patches of each) and writes it as JSON; --list writes\n"
    "      the photos used (path, sha256, patches kept / in the photo).\n";

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
    if (a == "resume" || a == "quiet" || a == "no-qf" || a == "no-jpeg-consistency" ||
        a == "no-niqe") {
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
  if (args.Has("init-from")) r.source["stage1"]["init_from"] = args.Get("init-from");
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
  if (args.Get("qf") == "none") {
    o.qfs.clear();
  } else if (args.Has("qf")) {
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
  constexpr char kDefaultNiqeModel[] = "training/niqe/pristine.json";
  if (args.Has("niqe-model")) {
    o.niqe_model = args.Get("niqe-model");
  } else if (!args.Has("no-niqe")) {
    if (std::filesystem::exists(kDefaultNiqeModel)) {
      o.niqe_model = kDefaultNiqeModel;
    } else {
      std::fprintf(stderr,
                   "codiff-train: no %s here (run from the repository root or pass "
                   "--niqe-model): no NIQE\n",
                   kDefaultNiqeModel);
    }
  }
  if (args.Has("double-jpeg")) {
    for (absl::string_view pair : absl::StrSplit(args.Get("double-jpeg"), ',')) {
      std::vector<std::string> qfs = absl::StrSplit(pair, ':');
      int q1 = 0, q2 = 0;
      if (qfs.size() != 2 || !absl::SimpleAtoi(qfs[0], &q1) || !absl::SimpleAtoi(qfs[1], &q2) ||
          q1 < 1 || q1 > 100 || q2 < 1 || q2 > 100) {
        return Fail("bad --double-jpeg: '" + std::string(pair) + "' is not QF1:QF2 in 1..100");
      }
      o.double_jpeg.emplace_back(q1, q2);
    }
  }
  if (args.Has("double-jpeg-shift") &&
      (!absl::SimpleAtoi(args.Get("double-jpeg-shift"), &o.double_jpeg_shift) ||
       o.double_jpeg_shift < 0 || o.double_jpeg_shift > 64)) {
    return Fail("bad --double-jpeg-shift (0..64)");
  }
  auto report = codiff::training::RunEval(o);
  if (!report.ok()) return Fail(std::string(report.status().message()));
  if (args.Has("json")) {
    std::ofstream out(args.Get("json"));
    out << report->dump(2) << "\n";
    if (!out) return Fail("cannot write " + args.Get("json"));
  }
  std::printf("%zu images, Y channel\n", report->at("images").get<size_t>());
  // One table: QF (or QF1:QF2) rows, then each row's metrics.
  auto print_rows = [](const std::string& label, const nlohmann::json& entry, int width) {
    for (const auto& [row, m] : entry.items()) {
      if (!m.is_object() || !m.contains("psnr")) continue;
      std::string name = row;
      if (m.contains("qp")) name = "spp qp=" + std::to_string(m["qp"].get<int>());
      std::printf(
          "%-*s %-12s %8.3f %7.4f %8.3f %7s %9s\n", width, label.c_str(), name.c_str(),
          m["psnr"].get<double>(), m["ssim"].get<double>(), m["psnrb"].get<double>(),
          m.contains("niqe") ? absl::StrFormat("%.3f", m["niqe"].get<double>()).c_str() : "-",
          m.contains("s_per_mp") ? absl::StrFormat("%.3f", m["s_per_mp"].get<double>()).c_str()
                                 : "-");
    }
    if (entry.contains("qf_estimate")) {
      std::printf("%-*s %-12s MAE %.2f (mean prediction %.1f)\n", width, label.c_str(),
                  "QF estimate", entry["qf_estimate"]["mae"].get<double>(),
                  entry["qf_estimate"]["mean"].get<double>());
    }
  };
  std::printf("%-4s %-12s %8s %7s %8s %7s %9s\n", "QF", "input", "PSNR", "SSIM", "PSNR-B", "NIQE",
              "s/MP");
  for (const auto& [qf, entry] : report->items()) {
    if (!entry.is_object() || qf == "double_jpeg") continue;
    print_rows(qf, entry, 4);
  }
  if (report->contains("double_jpeg")) {
    const nlohmann::json& doubles = report->at("double_jpeg");
    std::printf("double JPEG: QF1, then %d px cropped at the top and left, then QF2\n",
                doubles["shift"].get<int>());
    std::printf("%-7s %-12s %8s %7s %8s %7s %9s\n", "QF1:QF2", "input", "PSNR", "SSIM", "PSNR-B",
                "NIQE", "s/MP");
    for (const auto& [label, entry] : doubles.items()) {
      if (entry.is_object()) print_rows(label, entry, 7);
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
    absl::Status s = codiff::training::ExportRun(args.Get("run"), args.Get("output"),
                                                 args.Get("generator-from"));
    if (!s.ok()) return Fail(std::string(s.message()));
    std::fprintf(stderr, "wrote model folder %s\n", args.Get("output").c_str());
    return 0;
  }
  if (command == "eval") return RunEvalCommand(args);
  if (command == "niqe-fit") {
    if (!args.Has("data") || !args.Has("out")) return Fail("niqe-fit needs --data and --out");
    codiff::training::NiqeFitOptions o;
    o.data_dirs = absl::StrSplit(args.Get("data"), ',', absl::SkipEmpty());
    o.out = args.Get("out");
    o.list = args.Get("list");
    o.relative_to = std::filesystem::current_path().string();
    o.progress = !args.Has("quiet");
    auto model = codiff::training::RunNiqeFit(o);
    if (!model.ok()) return Fail(std::string(model.status().message()));
    std::fprintf(stderr, "%s\nwrote %s\n", model->source.c_str(), o.out.c_str());
    return 0;
  }
  return Fail("unknown command '" + command + "'\n" + kUsage);
}
