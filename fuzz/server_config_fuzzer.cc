// libFuzzer target: see the entry it drives in fuzz/fuzz_entries.h. Build and
// run with scripts/fuzz.sh server_config SECONDS.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  codiff::fuzz::ServerConfigInput(data, size);
  return 0;
}
