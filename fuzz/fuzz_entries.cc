#include "fuzz/fuzz_entries.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/types/span.h"
#include "core/weights/pickle_reader.h"
#include "core/weights/zip_directory.h"

namespace codiff::fuzz {

void TorchPickleInput(const uint8_t* data, size_t size) {
  absl::Span<const uint8_t> bytes(data, size);
  if (LooksLikeZip(bytes)) {
    auto entries = ReadStoredZipDirectory(bytes);
    if (!entries.ok()) return;
    for (const ZipEntry& entry : *entries) {
      if (absl::EndsWith(entry.name, "/data.pkl")) {
        (void)ParseTorchPickle(bytes.subspan(entry.data_offset, entry.size));
      }
    }
    return;
  }
  // The legacy layout: pickles back to back (at most a few).
  for (int i = 0; i < 8 && !bytes.empty(); ++i) {
    auto tree = ParseTorchPickle(bytes);
    if (!tree.ok() || tree->consumed == 0) return;
    bytes = bytes.subspan(tree->consumed);
  }
}

}  // namespace codiff::fuzz
