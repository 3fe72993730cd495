#include "training/niqe_fit.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/sha256.h"
#include "core/util/status_macros.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {

absl::StatusOr<metrics::NiqeModel> RunNiqeFit(const NiqeFitOptions& options) {
  namespace fs = std::filesystem;
  ASSIGN_OR_RETURN(std::vector<std::string> files, ListImageFiles(options.data_dirs));
  if (files.empty()) {
    return absl::NotFoundError("no images in " + absl::StrJoin(options.data_dirs, ", "));
  }
  auto shown = [&](const std::string& path) {
    if (options.relative_to.empty()) return path;
    return fs::relative(fs::absolute(path), fs::absolute(options.relative_to)).string();
  };
  std::vector<metrics::NiqeFeatureVector> rows;
  std::string list = "# path\tsha256\tpristine_patches\tpatches\n";
  int64_t used = 0;
  for (const std::string& f : files) {
    ASSIGN_OR_RETURN(image::Image rgb, ReadRgbImage(f));
    auto patches = metrics::ComputeNiqePatches(rgb);
    if (!patches.ok()) {
      // Smaller than one patch: contributes nothing, as in the reference.
      if (options.progress)
        std::fprintf(stderr, "skip %s: %s\n", f.c_str(),
                     std::string(patches.status().message()).c_str());
      continue;
    }
    std::vector<metrics::NiqeFeatureVector> kept = metrics::SelectPristinePatches(*patches);
    ASSIGN_OR_RETURN(std::string sha, Sha256OfFile(f));
    absl::StrAppend(&list, shown(f), "\t", sha, "\t", kept.size(), "\t", patches->features.size(),
                    "\n");
    if (!kept.empty()) ++used;
    rows.insert(rows.end(), kept.begin(), kept.end());
    if (options.progress) {
      std::fprintf(stderr, "%s: %zu of %zu patches\n", f.c_str(), kept.size(),
                   patches->features.size());
    }
  }
  ASSIGN_OR_RETURN(metrics::NiqeModel model, metrics::FitNiqeModel(rows));
  model.images = used;
  std::vector<std::string> dirs;
  for (const std::string& d : options.data_dirs) dirs.push_back(shown(d));
  model.source = absl::StrCat("codiff-train niqe-fit on ", absl::StrJoin(dirs, ", "), ": ",
                              model.patches, " pristine patches of ", used, " photos");
  if (!options.out.empty()) RETURN_IF_ERROR(metrics::WriteNiqeModel(options.out, model));
  if (!options.list.empty()) {
    std::ofstream out(options.list, std::ios::binary | std::ios::trunc);
    out << list;
    if (!out) return absl::InternalError("cannot write " + options.list);
  }
  return model;
}

}  // namespace codiff::training
