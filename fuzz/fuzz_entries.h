// The entry points the fuzzers drive, shared with the corpus replay test
// (tests/unit/fuzz_corpus_replay_test.cc) so that CI replays every committed
// corpus file through exactly the code the fuzzer exercised.
#pragma once

#include <cstddef>
#include <cstdint>

namespace codiff::fuzz {

// Bytes of a would-be torch.save file: the zip directory when it looks like
// a zip (and the data.pkl it names), else one pickle from the start, then
// every pickle that follows (the legacy layout). Must never crash, hang or
// read out of bounds, whatever the bytes.
void TorchPickleInput(const uint8_t* data, size_t size);

}  // namespace codiff::fuzz
