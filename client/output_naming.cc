#include "client/output_naming.h"

#include <sys/stat.h>

#include <map>
#include <set>
#include <system_error>

namespace codiff::client {
namespace fs = std::filesystem;
namespace {

// Absolute and normalised without requiring the path to exist, so that
// "out/../in/a.png" and "in/a.png" compare equal.
fs::path Normal(const fs::path& p) {
  std::error_code ec;
  fs::path canonical = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? fs::absolute(p).lexically_normal() : canonical;
}

}  // namespace

std::string ExtensionForFormat(const std::string& format) {
  if (format == "jpeg") return ".jpg";
  if (format == "webp") return ".webp";
  return ".png";
}

fs::path OutputPathFor(const Input& input, const OutputNaming& naming) {
  const fs::path name = input.relative.stem().string() + naming.suffix + naming.extension;
  if (naming.out_dir) return *naming.out_dir / input.relative.parent_path() / name;
  return input.path.parent_path() / name;
}

OutputPlan PlanOutputs(const std::vector<Input>& inputs, const OutputNaming& naming,
                       ExistingOutput existing) {
  OutputPlan plan;
  // Inputs by normalised path and by inode (hard links and bind mounts).
  std::set<fs::path> input_paths;
  std::set<std::pair<dev_t, ino_t>> input_inodes;
  for (const auto& in : inputs) {
    if (in.is_stdin) continue;
    input_paths.insert(Normal(in.path));
    struct stat st;
    if (stat(in.path.c_str(), &st) == 0) input_inodes.insert({st.st_dev, st.st_ino});
  }
  std::map<fs::path, std::string> claimed;  // output -> the input that owns it
  bool stdin_seen = false;
  for (const auto& in : inputs) {
    if (in.is_stdin) {
      if (stdin_seen) {
        plan.failed.push_back({"-", "stdin given more than once"});
        continue;
      }
      stdin_seen = true;
      plan.work.push_back({in, {}});
      continue;
    }
    const fs::path out = OutputPathFor(in, naming);
    const fs::path normal = Normal(out);
    struct stat st;
    const bool exists = lstat(out.c_str(), &st) == 0;
    struct stat target;
    const bool same_inode =
        stat(out.c_str(), &target) == 0 && input_inodes.count({target.st_dev, target.st_ino}) > 0;
    if (input_paths.count(normal) > 0 || same_inode) {
      plan.failed.push_back(
          {in.display(), "refusing to overwrite an input: " + out.string() +
                             " (use -o DIR, --suffix or --format to name outputs apart)"});
      continue;
    }
    if (auto it = claimed.find(normal); it != claimed.end()) {
      plan.failed.push_back({in.display(), "output " + out.string() + " is also the output of " +
                                               it->second + " (use --suffix to tell them apart)"});
      continue;
    }
    claimed[normal] = in.display();
    if (exists && existing == ExistingOutput::kSkip) {
      plan.skipped.push_back({in.display(), "output exists: " + out.string()});
      continue;
    }
    if (exists && existing == ExistingOutput::kRefuse) {
      plan.failed.push_back({in.display(), "output exists: " + out.string() +
                                               " (use --overwrite or --skip-existing)"});
      continue;
    }
    plan.work.push_back({in, out});
  }
  return plan;
}

}  // namespace codiff::client
