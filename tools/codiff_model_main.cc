// codiff-model: inspect presets and model folders, and make seeded random
// model folders for tests and smoke runs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#if !CODIFF_MODELS_ONLY
#include "core/image/image_decoder.h"
#endif
#include "core/models/lora_injection.h"
#include "core/models/model_architecture.h"
#include "core/models/one_step_generator.h"
#include "core/pipeline/reference_inference.h"
#if !CODIFF_MODELS_ONLY
#include "core/pipeline/restorer.h"
#endif
#include "core/runtime/cpu_quota.h"
#include "core/runtime/device.h"
#include "core/util/channels_last.h"
#include "core/util/status_macros.h"
#include "core/weights/model_folder.h"
#include "core/weights/reference_import.h"
#include "core/weights/state_dict.h"

namespace codiff {
namespace {

constexpr char kUsage[] = R"(usage: codiff-model COMMAND [options]

commands:
  keys --preset NAME --part unet|vae|cave|projection
      Print the part's state-dict keys, "name<TAB>d0,d1,..." one per line, in
      the reference's order (no LoRA adapters).
  summary (--preset NAME | --model DIR)
      Parameter counts per part and the LoRA-trainable count.
  init --preset NAME --seed N --out DIR
      Write a model folder with seeded random weights (marked untrained).
  demo (--preset NAME [--seed N] | --model DIR) [--size PIXELS] [--runs N]
       [--threads N] [--strategy auto|per_tile|reference] [--device cpu|cuda:N]
       [--dtype float32|float16|bfloat16] [--profile TRACE.json]
      Restore a random SIZExSIZE image in perceptual mode the way the server
      does (inference mode, BatchNorm folded, channels-last, the model's tiling
      strategy) and print the time per stage and the peak RSS. Threads default
      to all cores.

  import --sd21 DIR --cave cave.pth --codiff codiff.pkl --out MODEL_DIR
         [--keep-lora] [--dtype float32|float16|bfloat16]
      Turn Stable Diffusion 2.1-base (a diffusers folder with unet/ and vae/)
      and the CODiff authors' released cave.pth and codiff.pkl into a model
      folder that codiff-server serves. The torch.save files are read without
      Python and without running anything from them. LoRA adapters are merged
      into the weights unless --keep-lora. Prints an import report.

presets: sd21 (SD 2.1-base + reference CaVE, LoRA rank 16), small (CPU), tiny (tests)
)";

struct Args {
  std::string command;
  std::map<std::string, std::string> options;
};

absl::StatusOr<Args> ParseArgs(int argc, char** argv) {
  Args args;
  if (argc < 2) return absl::InvalidArgumentError("missing command");
  args.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      args.command = "help";
      return args;
    }
    if (flag.rfind("--", 0) != 0) return absl::InvalidArgumentError("unexpected argument " + flag);
    if (flag == "--keep-lora") {  // the one option without a value
      args.options["keep-lora"] = "1";
      continue;
    }
    const auto eq = flag.find('=');
    if (eq != std::string::npos) {
      args.options[flag.substr(2, eq - 2)] = flag.substr(eq + 1);
    } else if (i + 1 < argc) {
      args.options[flag.substr(2)] = argv[++i];
    } else {
      return absl::InvalidArgumentError(flag + " needs a value");
    }
  }
  return args;
}

absl::StatusOr<std::string> Required(const Args& args, const std::string& name) {
  auto it = args.options.find(name);
  if (it == args.options.end()) return absl::InvalidArgumentError("--" + name + " is required");
  return it->second;
}

absl::StatusOr<int64_t> IntOption(const Args& args, const std::string& name, int64_t fallback,
                                  int64_t min_value, int64_t max_value) {
  auto it = args.options.find(name);
  if (it == args.options.end()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value) || value < min_value || value > max_value) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer in [", min_value, ", ", max_value, "]"));
  }
  return value;
}

// The process's peak resident set size (Linux VmHWM), 0 when unknown.
double PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) * 1024.0;
  }
  return 0;
}

double CurrentRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) * 1024.0;
  }
  return 0;
}

// Memory once the model is loaded; the peak is then reset (Linux 4.0+:
// "5" > clear_refs), so the restore's own peak can be told from loading's.
struct MemoryMark {
  double load_peak = 0;
  double resident = 0;
  bool peak_reset = false;
};

MemoryMark MarkAfterLoad() {
  MemoryMark mark;
  mark.load_peak = PeakRssBytes();
  mark.resident = CurrentRssBytes();
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  mark.peak_reset = clear.good();
  return mark;
}

void PrintMemory(const MemoryMark& mark) {
  const double peak = PeakRssBytes();
  if (!mark.peak_reset) {
    std::printf("peak RSS %.2f GB (loading included)\n", peak / 1e9);
    return;
  }
  std::printf(
      "peak RSS %.2f GB: loading %.2f GB, model resident %.2f GB, restoring %.2f GB "
      "(%.2f GB above the model)\n",
      std::max(peak, mark.load_peak) / 1e9, mark.load_peak / 1e9, mark.resident / 1e9, peak / 1e9,
      (peak - mark.resident) / 1e9);
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

absl::Status Keys(const Args& args) {
  ASSIGN_OR_RETURN(std::string preset, Required(args, "preset"));
  ASSIGN_OR_RETURN(std::string part, Required(args, "part"));
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, models::PresetArchitecture(preset));
  torch::NoGradGuard no_grad;
  NamedTensors entries;
  if (part == "unet") {
    entries = StateDictOf(*models::UNet2DConditionModel(arch.unet));
  } else if (part == "vae") {
    entries = StateDictOf(*models::AutoencoderKL(arch.vae));
  } else if (part == "cave") {
    entries = StateDictOf(*models::CaVE(arch.cave));
  } else if (part == "projection") {
    entries = StateDictOf(*torch::nn::Linear(arch.projection_in(), arch.projection_out()));
  } else {
    return absl::InvalidArgumentError("--part must be unet, vae, cave or projection");
  }
  std::fputs(FormatKeyShapeLines(entries).c_str(), stdout);
  return absl::OkStatus();
}

absl::StatusOr<models::OneStepGenerator> GeneratorFromArgs(const Args& args,
                                                           ModelProvenance* provenance) {
  if (args.options.count("model")) {
    ASSIGN_OR_RETURN(LoadedModel loaded,
                     LoadModelFolder(args.options.at("model"), {torch::kCPU, torch::kFloat32,
                                                                /*merge_lora=*/false}));
    if (provenance) *provenance = loaded.provenance;
    return loaded.generator;
  }
  ASSIGN_OR_RETURN(std::string preset, Required(args, "preset"));
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, models::PresetArchitecture(preset));
  ASSIGN_OR_RETURN(int64_t seed, IntOption(args, "seed", 0, 0, INT64_MAX));
  torch::manual_seed(static_cast<uint64_t>(seed));
  return BuildGenerator(arch);
}

absl::Status Summary(const Args& args) {
  torch::NoGradGuard no_grad;
  ASSIGN_OR_RETURN(models::OneStepGenerator g, GeneratorFromArgs(args, nullptr));
  const models::ModelArchitecture& arch = g->architecture();
  std::printf("preset            %s\n", arch.preset.c_str());
  std::printf("timestep T_L      %lld\n", static_cast<long long>(arch.timestep));
  const int64_t unet_lora = models::CountLoraParameters(*g->unet());
  const int64_t vae_lora = models::CountLoraParameters(*g->vae());
  const int64_t cave = CountParameters(*g->cave());
  const int64_t proj = CountParameters(*g->proj());
  const int64_t unet = CountParameters(*g->unet()) - unet_lora;
  const int64_t vae = CountParameters(*g->vae()) - vae_lora;
  std::printf("cave              %15s parameters\n", Grouped(cave).c_str());
  std::printf("projection        %15s parameters\n", Grouped(proj).c_str());
  std::printf("unet              %15s parameters\n", Grouped(unet).c_str());
  std::printf("vae               %15s parameters\n", Grouped(vae).c_str());
  std::printf("total (no LoRA)   %15s parameters\n", Grouped(cave + proj + unet + vae).c_str());
  if (arch.unet_lora.rank > 0 || arch.vae_lora.rank > 0) {
    // The reference trains the UNet's conv_in base weight fully, besides LoRA.
    int64_t conv_in = 0;
    for (const auto& p : g->unet()->named_parameters()) {
      if (p.key() == "conv_in.weight" || p.key() == "conv_in.bias") conv_in += p.value().numel();
    }
    std::printf("LoRA unet         %15s trainable (rank %lld, alpha %g)\n",
                Grouped(unet_lora).c_str(), static_cast<long long>(arch.unet_lora.rank),
                arch.unet_lora.alpha);
    std::printf("LoRA vae encoder  %15s trainable (rank %lld, alpha %g)\n",
                Grouped(vae_lora).c_str(), static_cast<long long>(arch.vae_lora.rank),
                arch.vae_lora.alpha);
    std::printf("LoRA total        %15s trainable\n", Grouped(unet_lora + vae_lora).c_str());
    std::printf("stage-2 trainable %15s (LoRA + projection + UNet conv_in)\n",
                Grouped(unet_lora + vae_lora + proj + conv_in).c_str());
  } else {
    std::printf("LoRA              none: stage 2 trains projection, UNet and VAE fully\n");
  }
  return absl::OkStatus();
}

absl::Status Init(const Args& args) {
  ASSIGN_OR_RETURN(std::string out, Required(args, "out"));
  if (!args.options.count("seed")) return absl::InvalidArgumentError("--seed is required");
  ASSIGN_OR_RETURN(models::OneStepGenerator g, GeneratorFromArgs(args, nullptr));
  ModelProvenance provenance;
  provenance.trained = false;
  provenance.description = absl::StrCat(
      "UNTRAINED: seeded random weights (codiff-model init --preset ", g->architecture().preset,
      " --seed ", args.options.at("seed"), "), for tests and smoke runs");
  provenance.created_by = "codiff-model init";
  RETURN_IF_ERROR(WriteModelFolder(out, *g, provenance));
  std::printf("wrote %s (preset %s, untrained)\n", out.c_str(), g->architecture().preset.c_str());
  return absl::OkStatus();
}

// Device, dtype and threads of a demo run.
struct DemoSetup {
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
  int64_t threads = 1;
};

absl::StatusOr<DemoSetup> ParseDemoSetup(const Args& args) {
  DemoSetup setup;
  const int64_t cores = runtime::AvailableCores();
  ASSIGN_OR_RETURN(setup.threads, IntOption(args, "threads", cores, 1, 1024));
  const auto option = [&](const char* name, const char* fallback) {
    return args.options.count(name) ? args.options.at(name) : std::string(fallback);
  };
  ASSIGN_OR_RETURN(setup.device, runtime::ParseDevice(option("device", "cpu")));
  ASSIGN_OR_RETURN(setup.dtype,
                   runtime::ParseComputeDtype(option("dtype", "float32"), setup.device));
  runtime::UseIeeeFloat32();
  torch::set_num_threads(static_cast<int>(setup.threads));
  // The demo prints seconds per stage: worth a synchronisation per stage.
  models::SetStageTimingOnCuda(true);
  return setup;
}

void PrintStageHeader() {
  std::printf("%-4s %8s %8s %8s %8s %8s %8s %8s %6s\n", "run", "total", "cave", "proj", "vae_enc",
              "unet", "vae_dec", "finish", "tiles");
}

void PrintStages(int64_t run, double seconds, const models::StageSeconds& s, int tiles) {
  std::printf("%-4lld %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %6d\n", static_cast<long long>(run),
              seconds, s.cave, s.projection, s.vae_encode, s.unet, s.vae_decode,
              s.color_fix + s.jpeg_projection, tiles);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

#if CODIFF_MODELS_ONLY
// Without the image pipeline: the reference strategy on a random image, on
// the model prepared as the server prepares it.
absl::Status Demo(const Args& args) {
  ASSIGN_OR_RETURN(int64_t size, IntOption(args, "size", 256, 32, 4096));
  ASSIGN_OR_RETURN(int64_t runs, IntOption(args, "runs", 3, 1, 100));
  if (size % 32 != 0) return absl::InvalidArgumentError("--size must be a multiple of 32");
  ASSIGN_OR_RETURN(DemoSetup setup, ParseDemoSetup(args));
  ModelProvenance provenance;
  ASSIGN_OR_RETURN(models::OneStepGenerator g, GeneratorFromArgs(args, &provenance));
  models::MergeAndRemoveLora(*g);
  g->eval();
  g->cave()->FoldBatchNorm();
  g->to(setup.device, setup.dtype);
  if (setup.device.is_cpu()) MakeConvWeightsChannelsLast(*g);
  c10::InferenceMode inference;
  torch::manual_seed(0);
  torch::Tensor x = torch::rand({1, 3, size, size}).to(setup.device, setup.dtype);
  if (setup.device.is_cpu()) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  std::printf("preset %s, %lldx%lld, %s %s, %lld threads, strategy reference (models-only build)\n",
              g->architecture().preset.c_str(), static_cast<long long>(size),
              static_cast<long long>(size), setup.device.str().c_str(), c10::toString(setup.dtype),
              static_cast<long long>(setup.threads));
  const MemoryMark mark = MarkAfterLoad();
  PrintStageHeader();
  for (int64_t i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    models::StageSeconds stages;
    std::vector<pipeline::LatentTile> tiles;
    torch::Tensor out = pipeline::RunReferenceInference(*g, x, {}, nullptr, &stages, &tiles);
    if (setup.device.is_cuda()) out.cpu();  // waits for the device
    PrintStages(i + 1, SecondsSince(start), stages,
                static_cast<int>(std::max<size_t>(1, tiles.size())));
  }
  PrintMemory(mark);
  return absl::OkStatus();
}
#else
absl::Status Demo(const Args& args) {
  ASSIGN_OR_RETURN(int64_t size, IntOption(args, "size", 256, 32, 4096));
  ASSIGN_OR_RETURN(int64_t runs, IntOption(args, "runs", 3, 1, 100));
  if (size % 32 != 0) return absl::InvalidArgumentError("--size must be a multiple of 32");
  ASSIGN_OR_RETURN(DemoSetup setup, ParseDemoSetup(args));
  std::string strategy_name = args.options.count("strategy") ? args.options.at("strategy") : "auto";
  ASSIGN_OR_RETURN(pipeline::InferenceStrategy strategy,
                   pipeline::ParseInferenceStrategy(strategy_name));
  ModelProvenance provenance;
  ASSIGN_OR_RETURN(models::OneStepGenerator g, GeneratorFromArgs(args, &provenance));
  models::MergeAndRemoveLora(*g);  // as the server loads
  g->to(setup.dtype);
  // The server's inference path: BatchNorm folded, channels-last, inference
  // mode, the model's strategy and tiles.
  pipeline::RestorerConfig config;
  config.strategy = strategy;
  config.device = setup.device;
  pipeline::Restorer restorer(g, config);
  image::DecodedImage decoded;
  decoded.rgb = image::Image(static_cast<int>(size), static_cast<int>(size), 3);
  torch::manual_seed(0);
  const torch::Tensor noise = torch::randint(0, 256, {size * size * 3}, torch::kUInt8);
  std::memcpy(decoded.rgb.data.data(), noise.data_ptr(), decoded.rgb.data.size());
  std::printf("preset %s, %lldx%lld, %s %s, %lld threads, strategy %s\n",
              g->architecture().preset.c_str(), static_cast<long long>(size),
              static_cast<long long>(size), setup.device.str().c_str(), c10::toString(setup.dtype),
              static_cast<long long>(setup.threads),
              pipeline::InferenceStrategyName(restorer.strategy()));
  const MemoryMark mark = MarkAfterLoad();
  PrintStageHeader();
  for (int64_t i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(pipeline::RestoreResult result, restorer.Restore(decoded, {}));
    PrintStages(i + 1, SecondsSince(start), result.stages, result.tile_count);
  }
  if (args.options.count("profile")) {
    // One more run under LibTorch's profiler: a chrome://tracing file with
    // every operator, to see where a stage's time goes.
    const std::string path = args.options.at("profile");
    {
      torch::autograd::profiler::RecordProfile profile(path);
      ASSIGN_OR_RETURN(pipeline::RestoreResult result, restorer.Restore(decoded, {}));
      (void)result;
    }
    std::printf("profile written to %s\n", path.c_str());
  }
  PrintMemory(mark);
  return absl::OkStatus();
}
#endif

absl::Status Import(const Args& args) {
  ReferenceImportSources sources;
  ASSIGN_OR_RETURN(sources.sd21_dir, Required(args, "sd21"));
  ASSIGN_OR_RETURN(sources.cave_path, Required(args, "cave"));
  ASSIGN_OR_RETURN(sources.codiff_path, Required(args, "codiff"));
  ASSIGN_OR_RETURN(std::string out, Required(args, "out"));
  ReferenceImportOptions options;
  options.keep_lora = args.options.count("keep-lora") > 0;
  if (args.options.count("dtype")) options.dtype = args.options.at("dtype");
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(ReferenceImportReport report, ImportReferenceModel(sources, out, options));
  for (const std::string& line : report.lines) std::printf("%s\n", line.c_str());
  std::printf("import took %.1f s\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  auto args = ParseArgs(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "codiff-model: %s\n\n%s", std::string(args.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  absl::Status status;
  if (args->command == "help" || args->command == "--help" || args->command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  } else if (args->command == "keys") {
    status = Keys(*args);
  } else if (args->command == "summary") {
    status = Summary(*args);
  } else if (args->command == "init") {
    status = Init(*args);
  } else if (args->command == "demo") {
    status = Demo(*args);
  } else if (args->command == "import") {
    status = Import(*args);
  } else {
    std::fprintf(stderr, "codiff-model: unknown command '%s'\n\n%s", args->command.c_str(), kUsage);
    return 2;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "codiff-model %s: %s\n", args->command.c_str(),
                 std::string(status.message()).c_str());
    return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

}  // namespace
}  // namespace codiff

int main(int argc, char** argv) {
  try {
    return codiff::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "codiff-model: %s\n", e.what());
    return 1;
  }
}
