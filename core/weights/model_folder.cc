#include "core/weights/model_folder.h"

#include "core/runtime/device.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/lora_injection.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/util/yaml_json.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;

struct PartFile {
  const char* part;
  const char* file;
};
constexpr PartFile kParts[] = {{"cave", "cave.safetensors"},
                               {"projection", "projection.safetensors"},
                               {"unet", "unet.safetensors"},
                               {"vae", "vae.safetensors"}};

torch::nn::Module& PartModule(models::OneStepGeneratorImpl& g, const std::string& part) {
  if (part == "cave") return *g.cave();
  if (part == "projection") return *g.proj();
  if (part == "unet") return *g.unet();
  return *g.vae();
}

// nlohmann converts a float to an integer with a plain cast, undefined for
// values outside int64_t's range and for inf/nan; model.yaml's integer keys
// are read that way, so such numbers are refused wherever they appear.
bool NumbersFitInt64(const nlohmann::json& json) {
  if (json.is_number_float()) {
    const double d = json.get<double>();
    return std::isfinite(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
  }
  if (json.is_structured()) {
    for (const nlohmann::json& element : json) {
      if (!NumbersFitInt64(element)) return false;
    }
  }
  return true;
}

}  // namespace

models::OneStepGenerator BuildGenerator(const models::ModelArchitecture& arch) {
  models::OneStepGenerator generator(arch);
  if (arch.unet_lora.rank > 0) {
    models::InjectLora(*generator->unet(), models::ReferenceUNetLoraTargets(), arch.unet_lora);
  }
  if (arch.vae_lora.rank > 0) {
    models::InjectLora(*generator->vae(), models::ReferenceVaeLoraTargets(), arch.vae_lora);
  }
  return generator;
}

absl::Status WriteModelFolder(const std::string& dir, models::OneStepGeneratorImpl& generator,
                              const ModelProvenance& provenance) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [part, file] : kParts) {
    NamedTensors tensors = StateDictOf(PartModule(generator, part));
    RETURN_IF_ERROR(WriteTensorFile((fs::path(dir) / file).string(), tensors,
                                    {{"format", "pt"}, {"codiff_part", part}}));
    files[part] = file;
  }
  nlohmann::json doc = {
      {"format", kModelFormat},
      {"trained", provenance.trained},
      {"description", provenance.description},
      {"created_by", provenance.created_by},
      {"latent_scaling_factor", generator.architecture().vae.scaling_factor},
      {"architecture", models::ArchitectureToJson(generator.architecture())},
      {"files", files},
  };
  if (provenance.trained_qf_max > 0) {
    doc["trained_qf"] = {{"min", provenance.trained_qf_min}, {"max", provenance.trained_qf_max}};
  }
  if (provenance.default_mode != "perceptual") doc["default_mode"] = provenance.default_mode;
  if (provenance.perceptual_inert) doc["perceptual"] = "inert";
  if (!provenance.sources.empty()) {
    nlohmann::json sources = nlohmann::json::array();
    for (const SourceFile& source : provenance.sources) {
      sources.push_back({{"role", source.role},
                         {"path", source.path},
                         {"sha256", source.sha256},
                         {"bytes", source.bytes}});
    }
    doc["sources"] = sources;
  }
  const std::string yaml_path = (fs::path(dir) / "model.yaml").string();
  // Written beside and renamed over, as the tensor files are, so a failed
  // write leaves the previous model.yaml (a folder is never left unreadable).
  const std::string tmp_path = yaml_path + ".tmp";
  {
    std::ofstream out(tmp_path, std::ios::trunc);
    out << "# CODiff model folder; see core/weights/model_folder.h for the layout.\n"
        << JsonToYaml(doc);
    out.flush();
    if (!out) {
      fs::remove(tmp_path, ec);
      return absl::InternalError(absl::StrCat("cannot write ", tmp_path));
    }
  }
  fs::rename(tmp_path, yaml_path, ec);
  if (ec) {
    fs::remove(tmp_path, ec);
    return absl::InternalError(absl::StrCat("cannot rename ", tmp_path, " to ", yaml_path));
  }
  return absl::OkStatus();
}

absl::StatusOr<models::ModelArchitecture> ReadModelArchitecture(const std::string& dir,
                                                                ModelProvenance* provenance) {
  const std::string yaml_path = (fs::path(dir) / "model.yaml").string();
  if (!fs::exists(yaml_path)) {
    return absl::NotFoundError(absl::StrCat(dir, " is not a model folder (no model.yaml)"));
  }
  ASSIGN_OR_RETURN(nlohmann::json doc, ReadYamlFileAsJson(yaml_path));
  // Compared as JSON: a format that is not text is wrong, not an exception.
  if (!doc.is_object() || !doc.contains("format") || doc.at("format") != kModelFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat(yaml_path, ": format must be '", kModelFormat, "'"));
  }
  if (!NumbersFitInt64(doc)) {
    return absl::InvalidArgumentError(
        absl::StrCat(yaml_path, ": a number is out of range (inf, nan or beyond +-9.2e18)"));
  }
  if (!doc.contains("architecture")) {
    return absl::InvalidArgumentError(absl::StrCat(yaml_path, ": no 'architecture' section"));
  }
  auto arch = models::ArchitectureFromJson(doc.at("architecture"));
  if (!arch.ok()) {
    return absl::Status(arch.status().code(),
                        absl::StrCat(yaml_path, ": ", arch.status().message()));
  }
  if (provenance != nullptr) {
    *provenance = ModelProvenance();
    try {
      provenance->trained = doc.value("trained", false);
      provenance->description = doc.value("description", std::string());
      provenance->created_by = doc.value("created_by", std::string());
    } catch (const nlohmann::json::exception&) {
      return absl::InvalidArgumentError(absl::StrCat(
          yaml_path, ": trained must be true or false, description and created_by text"));
    }
    if (doc.contains("default_mode")) {
      const nlohmann::json& mode = doc.at("default_mode");
      if (!mode.is_string() || (mode != "perceptual" && mode != "fidelity")) {
        return absl::InvalidArgumentError(
            absl::StrCat(yaml_path, ": default_mode must be perceptual or fidelity"));
      }
      provenance->default_mode = mode.get<std::string>();
    }
    if (doc.contains("perceptual")) {
      const nlohmann::json& perceptual = doc.at("perceptual");
      if (!perceptual.is_string() || (perceptual != "inert" && perceptual != "active")) {
        return absl::InvalidArgumentError(
            absl::StrCat(yaml_path, ": perceptual must be inert or active"));
      }
      provenance->perceptual_inert = perceptual == "inert";
    }
    if (doc.contains("sources")) {
      const nlohmann::json& sources = doc.at("sources");
      if (!sources.is_array()) {
        return absl::InvalidArgumentError(absl::StrCat(yaml_path, ": sources must be a list"));
      }
      for (const nlohmann::json& source : sources) {
        if (!source.is_object()) {
          return absl::InvalidArgumentError(
              absl::StrCat(yaml_path, ": each source must be {role, path, sha256, bytes}"));
        }
        SourceFile file;
        try {
          file.role = source.value("role", std::string());
          file.path = source.value("path", std::string());
          file.sha256 = source.value("sha256", std::string());
          file.bytes = source.value("bytes", int64_t{0});
        } catch (const nlohmann::json::exception&) {
          return absl::InvalidArgumentError(absl::StrCat(
              yaml_path, ": a source's role/path/sha256 must be text, bytes a number"));
        }
        provenance->sources.push_back(std::move(file));
      }
    }
    if (doc.contains("trained_qf")) {
      const nlohmann::json& range = doc.at("trained_qf");
      auto bound = [&](const char* key) -> int64_t {
        if (!range.is_object() || !range.contains(key) || !range.at(key).is_number_integer()) {
          return -1;
        }
        return range.at(key).get<int64_t>();
      };
      const int64_t low = bound("min"), high = bound("max");
      if (low < 1 || high > 100 || low > high) {
        return absl::InvalidArgumentError(absl::StrCat(
            yaml_path, ": trained_qf must be {min: Q1, max: Q2} with 1 <= Q1 <= Q2 <= 100"));
      }
      provenance->trained_qf_min = static_cast<int>(low);
      provenance->trained_qf_max = static_cast<int>(high);
    }
  }
  return arch;
}

absl::StatusOr<LoadedModel> LoadModelFolder(const std::string& dir,
                                            const ModelLoadOptions& options) {
  LoadedModel loaded;
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, ReadModelArchitecture(dir, &loaded.provenance));
  ASSIGN_OR_RETURN(loaded.generator,
                   CatchTorchErrors("building the model", [&] { return BuildGenerator(arch); }));
  for (const auto& [part, file] : kParts) {
    const std::string path = (fs::path(dir) / file).string();
    ASSIGN_OR_RETURN(TensorMap tensors, MapTensorFile(path));
    auto report = LoadStateDictStrict(PartModule(*loaded.generator, part), tensors);
    if (!report.ok()) {
      return absl::Status(report.status().code(),
                          absl::StrCat(path, ": ", report.status().message()));
    }
    loaded.report.push_back(absl::StrCat(part, ": ", report->Summary()));
  }
  RETURN_IF_ERROR(CatchTorchErrors("placing the model", [&] {
    if (options.merge_lora) models::MergeAndRemoveLora(*loaded.generator);
    runtime::UseIeeeFloat32();
    loaded.generator->to(options.device, options.dtype);
    loaded.generator->eval();
  }));
  return loaded;
}

}  // namespace codiff
