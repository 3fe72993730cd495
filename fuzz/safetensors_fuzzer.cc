// libFuzzer target: see the entry it drives in fuzz/fuzz_entries.h. Build and
// run with scripts/fuzz.sh safetensors SECONDS.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  codiff::fuzz::SafetensorsInput(data, size);
  return 0;
}
