// Replays every committed fuzz corpus file (fuzz/corpus/TARGET) through the
// fuzzers' own entry points, so CI catches a regression on any input a
// fuzzer once found interesting without running libFuzzer itself.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz/fuzz_entries.h"

namespace codiff::fuzz {
namespace {

namespace fs = std::filesystem;

TEST(FuzzCorpusReplayTest, TorchPickleCorpusRunsCleanly) {
  const fs::path dir = fs::path(CODIFF_FUZZ_CORPUS_DIR) / "torch_pickle";
  int replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    TorchPickleInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++replayed;
  }
  EXPECT_GE(replayed, 5) << "corpus missing at " << dir;
}

}  // namespace
}  // namespace codiff::fuzz
