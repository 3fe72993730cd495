// A scratch folder of this process's own, for entries whose parser reads a
// path (made once, removed at exit), and a helper that writes a file in it.
#pragma once

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz/fuzz_check.h"

namespace codiff::fuzz {

inline const std::string& ScratchDir() {
  static const std::string* dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "codiff-fuzz-XXXXXX").string();
    FUZZ_CHECK(mkdtemp(pattern.data()) != nullptr);
    auto* path = new std::string(pattern);
    std::atexit([] {
      std::error_code ignored;
      std::filesystem::remove_all(ScratchDir(), ignored);
    });
    return path;
  }();
  return *dir;
}

// Writes `size` bytes to ScratchDir()/name, replacing it; returns its path.
inline std::string WriteScratchFile(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = (std::filesystem::path(ScratchDir()) / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  FUZZ_CHECK(out.good());
  return path;
}

}  // namespace codiff::fuzz
