#include "training/recipe.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/yaml_json.h"

namespace codiff::training {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ResolvePath(const std::string& path, const std::string& base_dir) {
  if (path.empty() || fs::path(path).is_absolute() || base_dir.empty()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

template <typename T>
void Get(const json& j, const char* key, T& value) {
  if (j.contains(key) && !j.at(key).is_null()) value = j.at(key).get<T>();
}

void CheckKeys(const json& j, const std::vector<std::string>& known, const std::string& where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      throw std::invalid_argument(absl::StrCat("unknown key '", it.key(), "' in ", where));
    }
  }
}

}  // namespace

absl::StatusOr<Recipe> RecipeFromJson(const json& j, const std::string& base_dir) {
  if (!j.is_object()) return absl::InvalidArgumentError("recipe must be a mapping");
  Recipe r;
  r.source = j;
  try {
    // Unknown keys are errors: a misspelt learning rate must not silently
    // fall back to a default.
    CheckKeys(j,
              {"stage", "preset", "seed", "threads", "batch", "steps", "checkpoint_every",
               "log_every", "output", "data", "validation", "stage1", "stage2", "description"},
              "recipe");
    Get(j, "stage", r.stage);
    Get(j, "preset", r.preset);
    Get(j, "seed", r.seed);
    Get(j, "threads", r.threads);
    Get(j, "batch", r.batch);
    Get(j, "steps", r.steps);
    Get(j, "checkpoint_every", r.checkpoint_every);
    Get(j, "log_every", r.log_every);
    Get(j, "output", r.output);
    r.output = ResolvePath(r.output, base_dir);
    r.data.seed = r.seed;
    if (j.contains("data")) {
      const json& d = j.at("data");
      CheckKeys(d,
                {"train_dirs", "crop", "augment", "max_side", "workers", "cache_sources", "qf_mode",
                 "qf_min", "qf_max", "grid_shift", "double_jpeg_prob"},
                "data");
      Get(d, "train_dirs", r.data.dirs);
      for (auto& dir : r.data.dirs) dir = ResolvePath(dir, base_dir);
      Get(d, "crop", r.data.crop);
      Get(d, "augment", r.data.augment);
      Get(d, "max_side", r.data.max_side);
      Get(d, "workers", r.data.workers);
      Get(d, "cache_sources", r.data.cache_sources);
      Get(d, "qf_mode", r.data.degradation.qf_mode);
      Get(d, "qf_min", r.data.degradation.qf_min);
      Get(d, "qf_max", r.data.degradation.qf_max);
      Get(d, "grid_shift", r.data.degradation.grid_shift);
      Get(d, "double_jpeg_prob", r.data.degradation.double_jpeg_prob);
    }
    if (j.contains("validation")) {
      const json& v = j.at("validation");
      CheckKeys(v, {"dir", "qfs", "crop", "max_images", "every"}, "validation");
      Get(v, "dir", r.validation.dir);
      r.validation.dir = ResolvePath(r.validation.dir, base_dir);
      Get(v, "qfs", r.validation.qfs);
      Get(v, "crop", r.validation.crop);
      Get(v, "max_images", r.validation.max_images);
      Get(v, "every", r.validation.every);
    }
    if (j.contains("stage1")) {
      const json& s = j.at("stage1");
      CheckKeys(s, {"objective", "lr", "qf_weight"}, "stage1");
      Get(s, "objective", r.stage1.objective);
      Get(s, "lr", r.stage1.lr);
      Get(s, "qf_weight", r.stage1.qf_weight);
    }
    if (j.contains("stage2")) {
      const json& s = j.at("stage2");
      CheckKeys(s,
                {"cave", "base_unet", "base_vae", "lr", "weight_decay", "grad_clip", "mse_weight",
                 "perceptual_weight", "gan_weight", "disc_weight", "disc_lr", "disc_lora_rank",
                 "dists_weights", "ema_decay", "train_vae_decoder", "vae_pretrain_steps",
                 "vae_pretrain_lr"},
                "stage2");
      Stage2Options& o = r.stage2;
      Get(s, "cave", o.cave);
      o.cave = ResolvePath(o.cave, base_dir);
      Get(s, "base_unet", o.base_unet);
      o.base_unet = ResolvePath(o.base_unet, base_dir);
      Get(s, "base_vae", o.base_vae);
      o.base_vae = ResolvePath(o.base_vae, base_dir);
      Get(s, "lr", o.lr);
      Get(s, "weight_decay", o.weight_decay);
      Get(s, "grad_clip", o.grad_clip);
      Get(s, "mse_weight", o.mse_weight);
      Get(s, "perceptual_weight", o.perceptual_weight);
      Get(s, "gan_weight", o.gan_weight);
      Get(s, "disc_weight", o.disc_weight);
      Get(s, "disc_lr", o.disc_lr);
      Get(s, "disc_lora_rank", o.disc_lora_rank);
      Get(s, "dists_weights", o.dists_weights);
      for (auto& f : o.dists_weights) f = ResolvePath(f, base_dir);
      Get(s, "ema_decay", o.ema_decay);
      Get(s, "train_vae_decoder", o.train_vae_decoder);
      Get(s, "vae_pretrain_steps", o.vae_pretrain_steps);
      Get(s, "vae_pretrain_lr", o.vae_pretrain_lr);
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("recipe: ", e.what()));
  }
  if (r.batch <= 0 || r.steps < 0 || r.threads <= 0) {
    return absl::InvalidArgumentError("recipe: batch and threads must be positive, steps >= 0");
  }
  if (r.output.empty()) return absl::InvalidArgumentError("recipe: 'output' (run dir) is required");
  if (r.data.dirs.empty()) return absl::InvalidArgumentError("recipe: data.train_dirs is empty");
  return r;
}

absl::StatusOr<Recipe> ReadRecipe(const std::string& path) {
  ASSIGN_OR_RETURN(json j, ReadYamlFileAsJson(path));
  return RecipeFromJson(j, fs::current_path().string());
}

}  // namespace codiff::training
