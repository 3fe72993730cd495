// A small, self-contained safetensors reader (memory-mapped) and writer.
// The format: 8-byte little-endian header length N, N bytes of JSON mapping
// tensor names to {dtype, shape, data_offsets}, then the raw data section.
// This header is free of LibTorch so tools and tests can use it cheaply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace codiff {

class MappedFile;

enum class TensorDtype { kF32, kF16, kBF16, kF64, kI64, kI32, kU8, kBool };

// Bytes per element, and the safetensors spelling ("F32", ...).
size_t DtypeSize(TensorDtype dtype);
const char* DtypeName(TensorDtype dtype);
absl::StatusOr<TensorDtype> ParseDtype(const std::string& name);

struct TensorView {
  std::string name;
  TensorDtype dtype = TensorDtype::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // Points into the mapped file.
  size_t num_bytes = 0;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates the whole header before returning: every offset
  // lies inside the file and matches its dtype and shape.
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // Names in the order of their data offsets (the order they were written).
  const std::vector<std::string>& names() const { return names_; }
  bool Contains(const std::string& name) const { return tensors_.count(name) > 0; }
  absl::StatusOr<TensorView> Get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  // Drops this process's copy of the whole pages inside [data, data + length)
  // (a range of one of the views): they are read from the file again if
  // touched, but stop counting in the process's memory once copied out.
  void ReleasePages(const uint8_t* data, size_t length) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::unique_ptr<MappedFile> file_;
  std::vector<std::string> names_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Validates and parses an in-memory safetensors image; exposed so the parser
// can be tested on hand-made corrupt bytes without touching the disk.
absl::Status ParseSafetensorsHeader(const uint8_t* bytes, size_t size,
                                    std::vector<std::string>* names,
                                    std::map<std::string, TensorView>* tensors,
                                    std::map<std::string, std::string>* metadata);

struct TensorToWrite {
  std::string name;
  TensorDtype dtype = TensorDtype::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t num_bytes = 0;
};

// Writes tensors in the given order, atomically (temporary file + rename).
absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace codiff
