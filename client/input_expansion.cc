#include "client/input_expansion.h"

#include <glob.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <system_error>

namespace codiff::client {
namespace fs = std::filesystem;
namespace {

bool LooksLikeGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// lstat-level existence: a dangling symlink exists as an entry.
bool EntryExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

void WalkDirectory(const fs::path& root, ExpandedInputs* out) {
  std::error_code ec;
  std::vector<Input> found;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) {
    out->problems.push_back({root.string(), "cannot list directory: " + ec.message()});
    return;
  }
  for (; it != end; it.increment(ec)) {
    if (ec) {
      out->problems.push_back({root.string(), "cannot list directory: " + ec.message()});
      break;
    }
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    // is_directory follows symlinks; a symlink to a directory is listed but
    // not descended into (the iterator does not follow links) and skipped.
    if (entry.is_directory(type_ec)) continue;
    if (!HasImageExtension(entry.path())) continue;
    found.push_back({entry.path(), entry.path().lexically_relative(root), false});
  }
  std::sort(found.begin(), found.end(),
            [](const Input& a, const Input& b) { return a.path < b.path; });
  out->inputs.insert(out->inputs.end(), found.begin(), found.end());
}

}  // namespace

bool HasImageExtension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const char* const kExtensions[] = {".jpg",  ".jpeg", ".jfif", ".png",
                                            ".webp", ".bmp",  ".tif",  ".tiff"};
  return std::any_of(std::begin(kExtensions), std::end(kExtensions),
                     [&](const char* e) { return ext == e; });
}

ExpandedInputs ExpandInputs(const std::vector<std::string>& arguments, bool recursive) {
  ExpandedInputs out;
  for (const auto& arg : arguments) {
    if (arg == "-") {
      out.inputs.push_back({"-", "-", true});
      continue;
    }
    if (!EntryExists(arg) && LooksLikeGlob(arg)) {
      glob_t g{};
      const int rc = glob(arg.c_str(), GLOB_NOSORT, nullptr, &g);
      std::vector<std::string> matches;
      if (rc == 0) matches.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);
      globfree(&g);
      if (matches.empty()) {
        out.problems.push_back({arg, "no file matches this pattern"});
        continue;
      }
      std::sort(matches.begin(), matches.end());
      for (const auto& m : matches) {
        std::error_code ec;
        if (fs::is_directory(m, ec)) {
          if (recursive) WalkDirectory(m, &out);
          continue;  // a glob naming directories without -r: skip them quietly
        }
        out.inputs.push_back({m, fs::path(m).filename(), false});
      }
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      if (!recursive) {
        out.problems.push_back({arg, "is a directory (use -r to restore the images inside)"});
        continue;
      }
      WalkDirectory(arg, &out);
      continue;
    }
    if (!EntryExists(arg)) {
      out.problems.push_back({arg, "no such file or directory"});
      continue;
    }
    // Anything else named explicitly (a file, a FIFO, a dangling link) is an
    // input; reading it reports what is wrong.
    out.inputs.push_back({arg, fs::path(arg).filename(), false});
  }
  return out;
}

}  // namespace codiff::client
