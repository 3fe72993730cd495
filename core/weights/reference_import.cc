#include "core/weights/reference_import.h"

#include <filesystem>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/models/lora_injection.h"
#include "core/models/model_architecture.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/diffusers_folder.h"
#include "core/weights/mapped_file.h"
#include "core/weights/model_folder.h"
#include "core/weights/safetensors.h"
#include "core/weights/state_dict.h"
#include "core/weights/torch_file.h"
#include "core/weights/zip_directory.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;

// The adapters the reference creates (diffusion/codiff.py).
const std::set<std::string> kUNetAdapters = {"default_encoder", "default_decoder",
                                             "default_others"};
const std::set<std::string> kVaeAdapters = {"default_encoder"};
// codiff.pkl's module-name list for each adapter.
const std::map<std::string, std::string> kUNetAdapterLists = {
    {"default_encoder", "unet_lora_encoder_modules"},
    {"default_decoder", "unet_lora_decoder_modules"},
    {"default_others", "unet_lora_others_modules"}};

// A safetensors file or a torch.save file (diffusers' .bin), told apart by
// their first bytes rather than their names.
absl::StatusOr<TensorMap> ReadWeights(const std::string& path) {
  bool torch_file = false;
  {
    ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
    torch_file =
        LooksLikeZip(file->bytes()) || (!file->bytes().empty() && file->bytes()[0] == 0x80);
  }
  if (!torch_file) return MapTensorFile(path);
  ASSIGN_OR_RETURN(TorchFileContents contents, ReadTorchFile(path));
  return ExtractStateDict(std::move(contents.tensors));
}

// One LoRA adapter pair of a layer, as read from codiff.pkl.
struct LoraPair {
  std::string adapter;
  std::string key_a, key_b;  // the source keys, for messages
  torch::Tensor a, b;
};

// Splits "<module>.lora_{A,B}.<adapter>.weight" into its parts.
bool ParseLoraKey(const std::string& key, std::string* module, char* which, std::string* adapter) {
  for (const char w : {'A', 'B'}) {
    const std::string marker = absl::StrCat(".lora_", std::string(1, w), ".");
    const auto at = key.find(marker);
    if (at == std::string::npos) continue;
    const std::string rest = key.substr(at + marker.size());
    if (!absl::EndsWith(rest, ".weight")) return false;
    *module = key.substr(0, at);
    *adapter = rest.substr(0, rest.size() - 7);
    *which = w;
    return !adapter->empty() && adapter->find('.') == std::string::npos;
  }
  return false;
}

// Collects the LoRA pairs of one part of codiff.pkl (keys already stripped of
// "state_dict_unet."/"state_dict_vae."); other keys go to `rest`.
absl::StatusOr<std::map<std::string, LoraPair>> CollectLora(const TensorMap& tensors,
                                                            const std::string& what,
                                                            const std::set<std::string>& adapters,
                                                            int64_t rank, TensorMap* rest) {
  std::map<std::string, LoraPair> pairs;
  for (const auto& [key, tensor] : tensors) {
    std::string module, adapter;
    char which = 0;
    if (!absl::StrContains(key, "lora")) {
      rest->emplace(key, tensor);
      continue;
    }
    if (!ParseLoraKey(key, &module, &which, &adapter)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": '", key, "' is not a LoRA key of the form <module>.lora_A|B.<adapter>.weight"));
    }
    if (adapters.count(adapter) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": '", key, "' uses adapter '", adapter,
                                                     "', not one of the reference's (",
                                                     absl::StrJoin(adapters, ", "), ")"));
    }
    LoraPair& pair = pairs[module];
    if (!pair.adapter.empty() && pair.adapter != adapter) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": layer '", module, "' has adapters '",
                                                     pair.adapter, "' and '", adapter,
                                                     "'; the reference gives each one"));
    }
    pair.adapter = adapter;
    (which == 'A' ? pair.a : pair.b) = tensor;
    (which == 'A' ? pair.key_a : pair.key_b) = key;
    // lora_A is [r, in(, k, k)], lora_B is [out, r(, 1, 1)].
    const int64_t stored_rank =
        which == 'A' ? tensor.size(0) : (tensor.dim() >= 2 ? tensor.size(1) : -1);
    if (stored_rank != rank) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": '", key, "' has rank ", stored_rank, " (shape [",
                       absl::StrJoin(tensor.sizes(), ", "), "]) but the file's rank is ", rank));
    }
  }
  for (const auto& [module, pair] : pairs) {
    if (!pair.a.defined() || !pair.b.defined()) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": layer '", module, "' has only ",
                                                     pair.a.defined() ? "lora_A" : "lora_B",
                                                     " (adapter '", pair.adapter, "')"));
    }
  }
  return pairs;
}

absl::Status CheckLoraShapes(const torch::Tensor& base, const LoraPair& pair,
                             const std::string& what) {
  const torch::Tensor& a = pair.a;
  const torch::Tensor& b = pair.b;
  const bool conv = base.dim() == 4;
  const bool shapes_ok = (base.dim() == 2 || conv) && a.dim() == base.dim() &&
                         b.dim() == base.dim() && a.size(1) == base.size(1) &&
                         b.size(0) == base.size(0) && a.size(0) == b.size(1) &&
                         (!conv || (a.size(2) == base.size(2) && a.size(3) == base.size(3) &&
                                    b.size(2) == 1 && b.size(3) == 1));
  if (!shapes_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", pair.key_a, "' [", absl::StrJoin(a.sizes(), ", "), "] and '",
                     pair.key_b, "' [", absl::StrJoin(b.sizes(), ", "),
                     "] do not fit the base weight [", absl::StrJoin(base.sizes(), ", "), "]"));
  }
  return absl::OkStatus();
}

// Before anything is loaded: every adapter sits on an existing layer and fits
// its weight. With `keep`, the adapters join the base state dict under our
// folder's names ("<module>.lora_A.weight").
absl::Status PrepareLora(TensorMap& base, const std::map<std::string, LoraPair>& pairs, bool keep,
                         const std::string& what) {
  for (const auto& [module, pair] : pairs) {
    auto it = base.find(module + ".weight");
    if (it == base.end()) {
      return absl::NotFoundError(absl::StrCat(what, ": '", pair.key_a, "' adapts '", module,
                                              "', which is not a layer of the base model"));
    }
    RETURN_IF_ERROR(CheckLoraShapes(it->second, pair, what));
    if (keep) {
      base[module + ".lora_A.weight"] = pair.a;
      base[module + ".lora_B.weight"] = pair.b;
    }
  }
  return absl::OkStatus();
}

// W += scale * B @ A on the loaded module's own float32 weights, in place, so
// the merge needs no second copy of the model.
absl::Status MergeLoraInPlace(torch::nn::Module& module,
                              const std::map<std::string, LoraPair>& pairs, double scale,
                              const std::string& what) {
  std::map<std::string, torch::Tensor> params;
  for (const auto& item : module.named_parameters()) params.emplace(item.key(), item.value());
  return CatchTorchErrors(what, [&] {
    torch::NoGradGuard no_grad;
    for (const auto& [name, pair] : pairs) {
      torch::Tensor& weight = params.at(name + ".weight");
      const int64_t rank = pair.a.size(0);
      torch::Tensor delta =
          torch::matmul(pair.b.to(torch::kFloat32).reshape({weight.size(0), rank}),
                        pair.a.to(torch::kFloat32).reshape({rank, -1}));
      weight.add_(delta.reshape(weight.sizes()).to(weight.scalar_type()), scale);
    }
  });
}

// The module-name lists of codiff.pkl must name exactly the layers that
// carry each adapter (the reference rebuilds its peft config from them).
absl::Status CheckModuleList(const nlohmann::json& values, const std::string& list_key,
                             const std::string& adapter,
                             const std::map<std::string, LoraPair>& pairs,
                             std::vector<std::string>* notes) {
  if (!values.contains(list_key)) {
    notes->push_back(absl::StrCat("codiff.pkl has no '", list_key, "' (not cross-checked)"));
    return absl::OkStatus();
  }
  const nlohmann::json& list = values.at(list_key);
  if (!list.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("codiff.pkl: '", list_key, "' is not a list"));
  }
  std::set<std::string> listed;
  for (const nlohmann::json& name : list) {
    if (!name.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("codiff.pkl: '", list_key, "' holds something other than names"));
    }
    listed.insert(name.get<std::string>());
  }
  for (const auto& [module, pair] : pairs) {
    if (pair.adapter != adapter) continue;
    if (listed.erase(module) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("codiff.pkl: '", pair.key_a, "' uses '",
                                                     adapter, "' but '", module, "' is not in '",
                                                     list_key, "'"));
    }
  }
  if (!listed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("codiff.pkl: '", *listed.begin(),
                                                   "' is listed in '", list_key, "' but has no ",
                                                   adapter, " tensors"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> RankOf(const nlohmann::json& values, const std::string& key) {
  if (!values.contains(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("codiff.pkl has no '", key,
                     "': the LoRA rank is needed to check the adapters and to scale them"));
  }
  const nlohmann::json& v = values.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0 || v.get<int64_t>() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("codiff.pkl: '", key, "' must be a positive integer, not ", v.dump()));
  }
  return v.get<int64_t>();
}

// The tensors of one top-level entry of codiff.pkl, with its prefix removed.
TensorMap Section(const TensorMap& all, const std::string& name) {
  TensorMap out;
  const std::string prefix = name + ".";
  for (const auto& [key, t] : all) {
    if (absl::StartsWith(key, prefix)) out.emplace(key.substr(prefix.size()), t);
  }
  return out;
}

absl::StatusOr<const torch::Tensor*> Need(const TensorMap& tensors, const std::string& key,
                                          int64_t dims, const std::string& what) {
  auto it = tensors.find(key);
  if (it == tensors.end()) {
    return absl::NotFoundError(absl::StrCat(what, ": missing tensor '", key, "'"));
  }
  if (it->second.dim() != dims) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", key, "' has ", it->second.dim(), " dimensions, expected ", dims));
  }
  return &it->second;
}

// CaVE's constructor arguments from its tensors (cave.pth has no config).
absl::StatusOr<models::CaVEConfig> InferCaveConfig(const TensorMap& cave) {
  const std::string what = "cave.pth";
  models::CaVEConfig config = models::CaVEConfig::Reference();
  ASSIGN_OR_RETURN(const torch::Tensor* head, Need(cave, "m_head.weight", 4, what));
  ASSIGN_OR_RETURN(const torch::Tensor* tail, Need(cave, "m_tail.weight", 4, what));
  int64_t blocks = 0;
  while (cave.count(absl::StrCat("m_down1.", blocks, ".res.0.weight")) > 0) ++blocks;
  if (blocks == 0) {
    return absl::NotFoundError(absl::StrCat(what, ": missing tensor 'm_down1.0.res.0.weight'"));
  }
  config.in_channels = head->size(1);
  config.out_channels = tail->size(0);
  config.blocks_per_stage = blocks;
  config.widths = {head->size(0)};
  for (const char* stage : {"m_down1", "m_down2", "m_down3"}) {
    ASSIGN_OR_RETURN(const torch::Tensor* down,
                     Need(cave, absl::StrCat(stage, ".", blocks, ".weight"), 4, what));
    config.widths.push_back(down->size(0));
  }
  return config;
}

absl::StatusOr<models::ModelArchitecture> ReadJsonConfigs(const std::string& sd21_dir,
                                                          models::ModelArchitecture arch) {
  ASSIGN_OR_RETURN(arch.unet, models::UNet2DConditionConfig::FromJsonFile(
                                  (fs::path(sd21_dir) / "unet" / "config.json").string()));
  ASSIGN_OR_RETURN(arch.vae, models::AutoencoderKLConfig::FromJsonFile(
                                 (fs::path(sd21_dir) / "vae" / "config.json").string()));
  return arch;
}

// Unused tensors are an error where they can only mean a mismatch (the
// diffusers files against their config, a renamed conv_in); for CaVE they
// are listed.
absl::Status LoadPart(torch::nn::Module& module, const TensorMap& source, const std::string& what,
                      bool unused_is_error, ReferenceImportReport* report) {
  auto loaded = LoadStateDictStrict(module, source);
  if (!loaded.ok()) {
    return absl::Status(loaded.status().code(),
                        absl::StrCat(what, ": ", loaded.status().message()));
  }
  if (unused_is_error && !loaded->unused.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the file has tensors the model does not: ", loaded->Summary()));
  }
  report->lines.push_back(absl::StrCat(what, ": ", loaded->Summary()));
  return absl::OkStatus();
}

absl::StatusOr<SourceFile> Describe(const std::string& role, const std::string& path) {
  SourceFile source;
  source.role = role;
  source.path = path;
  ASSIGN_OR_RETURN(source.sha256, Sha256OfFile(path, &source.bytes));
  return source;
}

absl::StatusOr<torch::ScalarType> ParseStoreDtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "float16") return torch::kFloat16;
  if (name == "bfloat16") return torch::kBFloat16;
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype must be float32, float16 or bfloat16, not '", name, "'"));
}

}  // namespace

absl::StatusOr<std::string> FindDiffusersWeights(const std::string& dir) {
  for (const char* name :
       {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors",
        "diffusion_pytorch_model.bin", "diffusion_pytorch_model.fp16.bin"}) {
    const fs::path path = fs::path(dir) / name;
    if (fs::exists(path)) return path.string();
  }
  return absl::NotFoundError(absl::StrCat(
      dir,
      " has no diffusion_pytorch_model{,.fp16}.safetensors or .bin (a diffusers folder of "
      "stable-diffusion-2-1-base is expected)"));
}

absl::StatusOr<ReferenceImportReport> ImportReferenceModel(const ReferenceImportSources& sources,
                                                           const std::string& out_dir,
                                                           const ReferenceImportOptions& options) {
  ReferenceImportReport report;
  ASSIGN_OR_RETURN(torch::ScalarType store_dtype, ParseStoreDtype(options.dtype));
  const std::string unet_dir = (fs::path(sources.sd21_dir) / "unet").string();
  const std::string vae_dir = (fs::path(sources.sd21_dir) / "vae").string();
  ASSIGN_OR_RETURN(std::string unet_path, FindDiffusersWeights(unet_dir));
  ASSIGN_OR_RETURN(std::string vae_path, FindDiffusersWeights(vae_dir));

  // codiff.pkl first: it is small and names the ranks.
  ASSIGN_OR_RETURN(TorchFileContents codiff, ReadTorchFile(sources.codiff_path));
  if (!codiff.values.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(sources.codiff_path, ": not a dict"));
  }
  ASSIGN_OR_RETURN(const int64_t rank_unet, RankOf(codiff.values, "rank_unet"));
  ASSIGN_OR_RETURN(const int64_t rank_vae, RankOf(codiff.values, "rank_vae"));
  const std::set<std::string> known_sections = {"state_dict_unet",
                                                "state_dict_vae",
                                                "proj",
                                                "rank_unet",
                                                "rank_vae",
                                                "vae_lora_encoder_modules",
                                                "unet_lora_encoder_modules",
                                                "unet_lora_decoder_modules",
                                                "unet_lora_others_modules"};
  for (const auto& [key, value] : codiff.values.items()) {
    if (known_sections.count(key) == 0) {
      report.lines.push_back(absl::StrCat("codiff.pkl: entry '", key, "' not used"));
    }
  }
  for (const char* section : {"state_dict_unet", "state_dict_vae", "proj"}) {
    if (!codiff.values.contains(section) || !codiff.values.at(section).is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(sources.codiff_path, ": no '", section, "' dict"));
    }
  }
  TensorMap unet_rest, vae_rest;
  ASSIGN_OR_RETURN(auto unet_lora,
                   CollectLora(Section(codiff.tensors, "state_dict_unet"),
                               "codiff.pkl state_dict_unet", kUNetAdapters, rank_unet, &unet_rest));
  ASSIGN_OR_RETURN(auto vae_lora,
                   CollectLora(Section(codiff.tensors, "state_dict_vae"),
                               "codiff.pkl state_dict_vae", kVaeAdapters, rank_vae, &vae_rest));
  for (const auto& [adapter, list_key] : kUNetAdapterLists) {
    RETURN_IF_ERROR(CheckModuleList(codiff.values, list_key, adapter, unet_lora, &report.lines));
  }
  RETURN_IF_ERROR(CheckModuleList(codiff.values, "vae_lora_encoder_modules", "default_encoder",
                                  vae_lora, &report.lines));
  for (const auto& [module, pair] : vae_lora) {
    if (!absl::StartsWith(module, "encoder.") && module != "quant_conv") {
      return absl::InvalidArgumentError(absl::StrCat(
          "codiff.pkl state_dict_vae: '", pair.key_a,
          "' adapts a layer outside the VAE encoder; the reference keeps the decoder frozen"));
    }
  }
  // The fully trained conv_in replaces the base one (peft's base_layer).
  TensorMap conv_in;
  for (auto& [key, t] : unet_rest) {
    if (key == "conv_in.base_layer.weight" || key == "conv_in.base_layer.bias") {
      conv_in.emplace(absl::StrCat("conv_in.", key.substr(sizeof("conv_in.base_layer.") - 1)), t);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("codiff.pkl state_dict_unet: unexpected tensor '", key,
                       "' (only LoRA adapters and conv_in.base_layer.{weight,bias} are expected)"));
    }
  }
  if (conv_in.size() != 2) {
    return absl::NotFoundError(
        "codiff.pkl state_dict_unet: missing 'conv_in.base_layer.weight' or '.bias'");
  }
  if (!vae_rest.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("codiff.pkl state_dict_vae: unexpected tensor '",
                                                   vae_rest.begin()->first, "'"));
  }
  TensorMap proj = Section(codiff.tensors, "proj");

  // Sizes.
  ASSIGN_OR_RETURN(TorchFileContents cave_file, ReadTorchFile(sources.cave_path));
  std::string wrapper_note;
  TensorMap cave = ExtractStateDict(std::move(cave_file.tensors), &wrapper_note);
  if (!wrapper_note.empty()) report.lines.push_back("cave.pth: " + wrapper_note);
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, models::PresetArchitecture("sd21"));
  ASSIGN_OR_RETURN(arch.cave, InferCaveConfig(cave));
  ASSIGN_OR_RETURN(arch, ReadJsonConfigs(sources.sd21_dir, arch));
  ASSIGN_OR_RETURN(const torch::Tensor* proj_weight, Need(proj, "weight", 2, "codiff.pkl proj"));
  if (proj_weight->size(0) != arch.projection_out() ||
      proj_weight->size(1) != arch.projection_in()) {
    return absl::InvalidArgumentError(
        absl::StrCat("codiff.pkl proj: 'weight' is [", absl::StrJoin(proj_weight->sizes(), ", "),
                     "] but the UNet's cross_attention_dim is ", arch.projection_out(),
                     " and CaVE's last width is ", arch.projection_in()));
  }
  arch.unet_lora = {options.keep_lora ? rank_unet : 0, options.lora_alpha};
  arch.vae_lora = {options.keep_lora ? rank_vae : 0, options.lora_alpha};
  RETURN_IF_ERROR(arch.Validate());
  report.lines.push_back(absl::StrCat(
      "sizes: CaVE widths ", absl::StrJoin(arch.cave.widths, "/"), " x ",
      arch.cave.blocks_per_stage, " blocks; UNet ",
      absl::StrJoin(arch.unet.block_out_channels, "/"), ", cross-attention ",
      arch.unet.cross_attention_dim, "; VAE ", absl::StrJoin(arch.vae.block_out_channels, "/"),
      "; LoRA rank ", rank_unet, " (UNet) / ", rank_vae, " (VAE), scale ",
      options.lora_alpha / static_cast<double>(rank_unet), " / ",
      options.lora_alpha / static_cast<double>(rank_vae)));

  ASSIGN_OR_RETURN(
      models::OneStepGenerator generator,
      CatchTorchErrors("building the sd21 model", [&] { return BuildGenerator(arch); }));
  if (options.keep_lora) {
    // Our folder re-injects adapters on the reference target set; the file's
    // set must be that one.
    for (const auto& [part, pairs, targets] :
         {std::tuple<const char*, const std::map<std::string, LoraPair>*, models::LoraTargetSet>{
              "unet", &unet_lora, models::ReferenceUNetLoraTargets()},
          {"vae", &vae_lora, models::ReferenceVaeLoraTargets()}}) {
      for (const auto& [module, pair] : *pairs) {
        if (!models::MatchesLoraTarget(module, targets)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--keep-lora: '", pair.key_a, "' adapts ", part, " layer '", module,
              "', outside the reference target set; import without --keep-lora to merge it"));
        }
      }
    }
  }
  const double unet_scale = options.lora_alpha / static_cast<double>(rank_unet);
  const double vae_scale = options.lora_alpha / static_cast<double>(rank_vae);
  {
    ASSIGN_OR_RETURN(TensorMap unet, ReadWeights(unet_path));
    for (auto& [key, t] : conv_in) unet[key] = t;
    RETURN_IF_ERROR(PrepareLora(unet, unet_lora, options.keep_lora, "codiff.pkl UNet"));
    RETURN_IF_ERROR(LoadPart(*generator->unet(), unet, "unet (" + unet_path + ")", true, &report));
  }
  {
    ASSIGN_OR_RETURN(TensorMap vae, ReadWeights(vae_path));
    vae = NormalizeLegacyVaeKeys(std::move(vae));
    RETURN_IF_ERROR(PrepareLora(vae, vae_lora, options.keep_lora, "codiff.pkl VAE"));
    RETURN_IF_ERROR(LoadPart(*generator->vae(), vae, "vae (" + vae_path + ")", true, &report));
  }
  if (!options.keep_lora) {
    RETURN_IF_ERROR(
        MergeLoraInPlace(*generator->unet(), unet_lora, unet_scale, "merging UNet LoRA"));
    RETURN_IF_ERROR(MergeLoraInPlace(*generator->vae(), vae_lora, vae_scale, "merging VAE LoRA"));
  }
  RETURN_IF_ERROR(
      LoadPart(*generator->cave(), cave, "cave (" + sources.cave_path + ")", false, &report));
  RETURN_IF_ERROR(
      LoadPart(*generator->proj(), proj, "projection (codiff.pkl proj)", true, &report));
  report.lines.push_back(absl::StrCat("codiff.pkl: ", unet_lora.size(), " UNet and ",
                                      vae_lora.size(), " VAE LoRA layers ",
                                      options.keep_lora ? "kept as adapters" : "merged",
                                      ", conv_in replaced by its trained base layer"));

  ModelProvenance provenance;
  provenance.trained = true;
  provenance.created_by = "codiff-model import";
  provenance.description =
      "CODiff (Guo et al.): Stable Diffusion 2.1-base with the authors' released cave.pth and "
      "codiff.pkl, imported by codiff-model import";
  for (const auto& [role, path] :
       std::vector<std::pair<std::string, std::string>>{{"unet", unet_path},
                                                        {"vae", vae_path},
                                                        {"cave", sources.cave_path},
                                                        {"codiff", sources.codiff_path}}) {
    ASSIGN_OR_RETURN(SourceFile source, Describe(role, path));
    report.lines.push_back(absl::StrCat("source ", role, ": ", path, " sha256 ", source.sha256));
    provenance.sources.push_back(std::move(source));
  }
  RETURN_IF_ERROR(CatchTorchErrors("converting the weights", [&] {
    generator->eval();
    if (store_dtype != torch::kFloat32) generator->to(store_dtype);
  }));
  RETURN_IF_ERROR(WriteModelFolder(out_dir, *generator, provenance));
  report.lines.push_back(absl::StrCat("wrote ", out_dir, " (preset sd21, ", options.dtype, ")"));
  return report;
}

}  // namespace codiff
