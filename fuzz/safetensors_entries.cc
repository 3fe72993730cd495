// Fuzz entry for the safetensors reader: SafetensorsInput
// (fuzz/fuzz_entries.h).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/weights/safetensors.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_entries.h"

namespace codiff::fuzz {

void SafetensorsInput(const uint8_t* data, size_t size) {
  std::vector<std::string> names;
  std::map<std::string, TensorView> tensors;
  std::map<std::string, std::string> metadata;
  if (!ParseSafetensorsHeader(data, size, &names, &tensors, &metadata).ok()) return;
  FUZZ_CHECK(names.size() == tensors.size());
  const uint8_t* end = data + size;
  for (const std::string& name : names) {
    auto it = tensors.find(name);
    FUZZ_CHECK(it != tensors.end());
    const TensorView& view = it->second;
    FUZZ_CHECK(view.data >= data + 8 && view.data <= end);
    FUZZ_CHECK(view.num_bytes <= static_cast<size_t>(end - view.data));
    uint64_t elements = 1;
    for (int64_t d : view.shape) {
      FUZZ_CHECK(d >= 0);
      elements *= static_cast<uint64_t>(d);
    }
    FUZZ_CHECK(elements * DtypeSize(view.dtype) == view.num_bytes);
    // Touch the first and last byte: ASan reports a view outside the input.
    if (view.num_bytes > 0) {
      volatile uint8_t sink = view.data[0];
      sink = view.data[view.num_bytes - 1];
      (void)sink;
    }
  }
}

}  // namespace codiff::fuzz
