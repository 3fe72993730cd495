// Replays every committed fuzz corpus file (fuzz/corpus/TARGET) through the
// fuzzers' own entry points, so CI catches a regression on any input a
// fuzzer once found interesting without running libFuzzer itself. An entry
// that crashes, throws or breaks one of its checks (FUZZ_CHECK aborts) fails
// the test binary.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_entries.h"

namespace codiff::fuzz {
namespace {

namespace fs = std::filesystem;

using Entry = void (*)(const uint8_t* data, size_t size);

// Runs `entry` on every file of fuzz/corpus/<target>; returns how many.
int ReplayCorpus(const std::string& target, Entry entry) {
  const fs::path dir = fs::path(CODIFF_FUZZ_CORPUS_DIR) / target;
  int replayed = 0;
  for (const auto& file : fs::directory_iterator(dir)) {
    SCOPED_TRACE(file.path().string());
    std::ifstream in(file.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++replayed;
  }
  return replayed;
}

TEST(FuzzCorpusReplayTest, TorchPickleCorpusRunsCleanly) {
  EXPECT_GE(ReplayCorpus("torch_pickle", TorchPickleInput), 5);
}

TEST(FuzzCorpusReplayTest, ImageDecodeCorpusRunsCleanly) {
  EXPECT_GE(ReplayCorpus("image_decode", ImageDecodeInput), 5);
}

TEST(FuzzCorpusReplayTest, JpegCorpusRunsCleanly) { EXPECT_GE(ReplayCorpus("jpeg", JpegInput), 5); }

TEST(FuzzCorpusReplayTest, SafetensorsCorpusRunsCleanly) {
  EXPECT_GE(ReplayCorpus("safetensors", SafetensorsInput), 5);
}

TEST(FuzzCorpusReplayTest, ModelYamlCorpusRunsCleanly) {
  EXPECT_GE(ReplayCorpus("model_yaml", ModelYamlInput), 3);
}

TEST(FuzzCorpusReplayTest, ServerConfigCorpusRunsCleanly) {
  EXPECT_GE(ReplayCorpus("server_config", ServerConfigInput), 3);
}

// The entries' checks abort (and so fail this binary) when they do not hold.
TEST(FuzzCorpusReplayDeathTest, FuzzCheckAborts) {
  EXPECT_DEATH(FUZZ_CHECK(1 + 1 == 3), "FUZZ_CHECK failed: 1 \\+ 1 == 3");
}

}  // namespace
}  // namespace codiff::fuzz
