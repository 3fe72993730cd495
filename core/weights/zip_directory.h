// The central directory of a zip archive whose entries are stored
// uncompressed, as torch.save (PyTorch >= 1.6) writes its checkpoints. Only
// what a reader of such files needs: names and where each record's bytes lie.
// ZIP64 sizes and offsets are understood (a full SD UNet .bin is ~3.4 GB).
// Free of LibTorch; every offset is checked against the file size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace codiff {

struct ZipEntry {
  std::string name;
  uint64_t data_offset = 0;  // first byte of the record's data in the file
  uint64_t size = 0;
};

// Parses the end-of-central-directory record, the central directory and each
// entry's local header. A compressed or encrypted entry, an entry whose data
// runs past the end of the file, or a damaged directory is an error.
absl::StatusOr<std::vector<ZipEntry>> ReadStoredZipDirectory(absl::Span<const uint8_t> file);

// True when the bytes start like a zip archive (a local file header).
bool LooksLikeZip(absl::Span<const uint8_t> file);

}  // namespace codiff
