// Turns the INPUT... arguments into a list of image inputs: plain files,
// glob patterns (for shells that did not expand them), directories (only
// with -r, walked recursively) and "-" for stdin.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace codiff::client {

struct Input {
  std::filesystem::path path;  // as given or as found under a directory
  // Where the output goes relative to the output folder, without the
  // extension change: the file name for files and globs, the path below the
  // walked directory for directory inputs.
  std::filesystem::path relative;
  bool is_stdin = false;
  std::string display() const { return is_stdin ? std::string("-") : path.string(); }
};

// An argument that yielded nothing usable, with the reason.
struct InputProblem {
  std::string argument;
  std::string reason;
};

struct ExpandedInputs {
  std::vector<Input> inputs;  // in argument order; directory and glob entries sorted
  std::vector<InputProblem> problems;
};

// Directory walks keep names with an image extension (case-insensitive):
// jpg jpeg jfif png webp bmp tif tiff. Entries that are not regular files but
// carry such a name (a FIFO, a dangling symlink) are kept so that reading
// them reports the reason instead of silently skipping them. Symlinked
// directories are not followed (no cycles).
ExpandedInputs ExpandInputs(const std::vector<std::string>& arguments, bool recursive);

bool HasImageExtension(const std::filesystem::path& path);

}  // namespace codiff::client
