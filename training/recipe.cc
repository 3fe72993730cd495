#include "training/recipe.h"

#include <algorithm>
#include <cmath>
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
              {"stage",
               "preset",
               "seed",
               "threads",
               "batch",
               "steps",
               "checkpoint_every",
               "log_every",
               "lr_schedule",
               "lr_final_ratio",
               "warmup_steps",
               "output",
               "data",
               "validation",
               "stage1",
               "stage2",
               "description",
               "cave_qf_conditioning",
               "cave_widths",
               "cave_blocks"},
              "recipe");
    Get(j, "stage", r.stage);
    Get(j, "preset", r.preset);
    Get(j, "cave_qf_conditioning", r.cave_qf_conditioning);
    Get(j, "cave_widths", r.cave_widths);
    Get(j, "cave_blocks", r.cave_blocks);
    Get(j, "seed", r.seed);
    Get(j, "threads", r.threads);
    Get(j, "batch", r.batch);
    Get(j, "steps", r.steps);
    Get(j, "checkpoint_every", r.checkpoint_every);
    Get(j, "log_every", r.log_every);
    Get(j, "lr_schedule", r.lr_schedule);
    Get(j, "lr_final_ratio", r.lr_final_ratio);
    Get(j, "warmup_steps", r.warmup_steps);
    Get(j, "output", r.output);
    r.output = ResolvePath(r.output, base_dir);
    r.data.seed = r.seed;
    if (j.contains("data")) {
      const json& d = j.at("data");
      CheckKeys(d,
                {"train_dirs", "crop", "augment", "max_side", "workers", "cache_sources", "qf_mode",
                 "qf_min", "qf_max", "grid_shift", "double_jpeg_prob", "table_bank_prob",
                 "chroma_qf_spread", "table_jitter", "subsampling"},
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
      Get(d, "table_bank_prob", r.data.degradation.table_bank_prob);
      Get(d, "chroma_qf_spread", r.data.degradation.chroma_qf_spread);
      Get(d, "table_jitter", r.data.degradation.table_jitter);
      Get(d, "subsampling", r.data.degradation.subsampling);
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
      CheckKeys(s,
                {"objective", "lr", "qf_weight", "restoration_loss", "ema_decay", "init_from",
                 "train_parts", "init_grow"},
                "stage1");
      Get(s, "restoration_loss", r.stage1.restoration_loss);
      Get(s, "objective", r.stage1.objective);
      Get(s, "lr", r.stage1.lr);
      Get(s, "qf_weight", r.stage1.qf_weight);
      Get(s, "ema_decay", r.stage1.ema_decay);
      Get(s, "init_from", r.stage1.init_from);
      Get(s, "train_parts", r.stage1.train_parts);
      Get(s, "init_grow", r.stage1.init_grow);
      r.stage1.init_from = ResolvePath(r.stage1.init_from, base_dir);
    }
    if (j.contains("stage2")) {
      const json& s = j.at("stage2");
      CheckKeys(s,
                {"cave", "base_unet", "base_vae", "lr", "weight_decay", "grad_clip", "mse_weight",
                 "perceptual_weight", "gan_weight", "disc_weight", "disc_lr", "disc_lora_rank",
                 "dists_weights", "ema_decay", "train_vae_decoder", "vae_pretrain_steps",
                 "vae_pretrain_lr", "gan_start_step"},
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
      Get(s, "gan_start_step", o.gan_start_step);
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
  if (r.stage2.gan_start_step < 0) {
    return absl::InvalidArgumentError("recipe: stage2.gan_start_step must be >= 0");
  }
  if (r.batch <= 0 || r.steps < 0 || r.threads <= 0) {
    return absl::InvalidArgumentError("recipe: batch and threads must be positive, steps >= 0");
  }
  if (r.stage1.train_parts != "all" && r.stage1.train_parts != "qf_head") {
    return absl::InvalidArgumentError(absl::StrCat(
        "recipe: stage1.train_parts '", r.stage1.train_parts, "' is not all or qf_head"));
  }
  if (r.stage1.restoration_loss != "l1" && r.stage1.restoration_loss != "mse" &&
      r.stage1.restoration_loss != "mse_luma" && r.stage1.restoration_loss != "mse_luma_blocks") {
    return absl::InvalidArgumentError(
        absl::StrCat("recipe: stage1.restoration_loss '", r.stage1.restoration_loss,
                     "' is not l1, mse, mse_luma or mse_luma_blocks"));
  }
  if (!(r.stage1.ema_decay >= 0.0 && r.stage1.ema_decay < 1.0) ||
      !(r.stage2.ema_decay >= 0.0 && r.stage2.ema_decay < 1.0)) {
    return absl::InvalidArgumentError("recipe: ema_decay must be in [0, 1) (0 = no average)");
  }
  if (r.lr_schedule != "constant" && r.lr_schedule != "cosine") {
    return absl::InvalidArgumentError(
        absl::StrCat("recipe: lr_schedule '", r.lr_schedule, "' is not constant or cosine"));
  }
  if (!(r.lr_final_ratio >= 0.0 && r.lr_final_ratio <= 1.0) || r.warmup_steps < 0) {
    return absl::InvalidArgumentError(
        "recipe: lr_final_ratio must be in [0, 1] and warmup_steps >= 0");
  }
  if (r.output.empty()) return absl::InvalidArgumentError("recipe: 'output' (run dir) is required");
  if (r.data.dirs.empty()) return absl::InvalidArgumentError("recipe: data.train_dirs is empty");
  return r;
}

absl::StatusOr<models::ModelArchitecture> RecipeArchitecture(const Recipe& recipe) {
  ASSIGN_OR_RETURN(models::ModelArchitecture arch, models::PresetArchitecture(recipe.preset));
  if (recipe.cave_qf_conditioning) arch.cave.qf_conditioning = true;
  if (!recipe.cave_widths.empty()) {
    if (recipe.cave_widths.size() != 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cave_widths must list 4 widths (full, /2, /8, /32), got ", recipe.cave_widths.size()));
    }
    for (int64_t w : recipe.cave_widths) {
      if (w < 8 || w > 1024 || w % 8 != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("cave_widths must be multiples of 8 in [8, 1024], got ", w));
      }
    }
    arch.cave.widths = recipe.cave_widths;
  }
  if (recipe.cave_blocks != 0) {
    if (recipe.cave_blocks < 1 || recipe.cave_blocks > 16) {
      return absl::InvalidArgumentError(
          absl::StrCat("cave_blocks must be in [1, 16], got ", recipe.cave_blocks));
    }
    arch.cave.blocks_per_stage = recipe.cave_blocks;
  }
  // The QF head learns the crops it is trained on, and a whole-image estimate
  // averages it over crops of that size: 128 px training crops read 256 px
  // validation crops 2-4 QF off, and a head trained on 256 px crops misreads
  // 128 px ones by 17-28 QF at QF 20-40 (measured).
  if (arch.cave.qf_estimate_crop > 0 && recipe.data.crop >= 32 && recipe.data.crop % 32 == 0) {
    arch.cave.qf_estimate_crop = recipe.data.crop;
  }
  return arch;
}

double LearningRateFactor(const Recipe& recipe, int64_t step) {
  if (recipe.warmup_steps > 0 && step < recipe.warmup_steps) {
    return static_cast<double>(step + 1) / recipe.warmup_steps;
  }
  if (recipe.lr_schedule != "cosine") return 1.0;
  const int64_t span = recipe.steps - recipe.warmup_steps;
  if (span <= 1) return 1.0;
  const double progress = std::min(
      1.0, static_cast<double>(step - recipe.warmup_steps) / static_cast<double>(span - 1));
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return recipe.lr_final_ratio + (1.0 - recipe.lr_final_ratio) * cosine;
}

double EmaDecayAt(double decay, int64_t step) {
  return std::min(decay, (1.0 + static_cast<double>(step)) / (10.0 + static_cast<double>(step)));
}

namespace {

// Values of `patch` replace those of `base`; mappings merge key by key.
void MergeInto(json& base, const json& patch) {
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_object() && base.contains(it.key()) && base[it.key()].is_object()) {
      MergeInto(base[it.key()], it.value());
    } else {
      base[it.key()] = it.value();
    }
  }
}

}  // namespace

absl::StatusOr<json> SelectStage(const json& recipe, const std::string& stage) {
  if (!recipe.is_object() || !recipe.contains("stages")) return recipe;
  const json& stages = recipe.at("stages");
  if (!stages.is_object() || !stages.contains(stage) || !stages.at(stage).is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("recipe: 'stages' has no mapping for ", stage.empty() ? "(none)" : stage));
  }
  json merged = recipe;
  merged.erase("stages");
  MergeInto(merged, stages.at(stage));
  merged["stage"] = stage;
  return merged;
}

absl::StatusOr<Recipe> ReadRecipe(const std::string& path, const std::string& stage) {
  ASSIGN_OR_RETURN(json j, ReadYamlFileAsJson(path));
  ASSIGN_OR_RETURN(json selected, SelectStage(j, stage));
  return RecipeFromJson(selected, fs::current_path().string());
}

}  // namespace codiff::training
