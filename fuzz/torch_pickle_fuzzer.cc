// libFuzzer target: the torch.save reader's parsers (restricted unpickler and
// zip directory), which read untrusted checkpoint files. Build and run with
// scripts/fuzz.sh torch_pickle SECONDS.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  codiff::fuzz::TorchPickleInput(data, size);
  return 0;
}
