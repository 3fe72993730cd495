// The torch.save reader: real files written by torch.save (tests/testdata/
// import/make_import_fixtures.py), hostile pickles, and damaged archives.
#include "core/weights/torch_file.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/weights/pickle_reader.h"
#include "core/weights/zip_directory.h"
#include "tests/test_support.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;
using testing::LoadTestTensors;
using testing::MakeTempDir;
using testing::TestdataPath;

constexpr char kPwnedMarker[] = "/tmp/codiff-import-pwned";

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string WriteTemp(const std::string& tag, const std::string& bytes) {
  const std::string path = MakeTempDir(tag) + "/file.pt";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

absl::Span<const uint8_t> Span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A minimal zip writer (stored entries), to build archives torch.save never
// would: one without its data records.
std::string StoredZip(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string out, directory;
  auto le = [](std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  for (const auto& [name, data] : entries) {
    const uint64_t offset = out.size();
    le(out, 0x04034b50, 4);
    le(out, 20, 2);
    le(out, 0, 2);
    le(out, 0, 2);
    le(out, 0, 4);
    le(out, 0, 4);  // crc (not checked)
    le(out, data.size(), 4);
    le(out, data.size(), 4);
    le(out, name.size(), 2);
    le(out, 0, 2);
    out += name + data;
    le(directory, 0x02014b50, 4);
    le(directory, 20, 2);
    le(directory, 20, 2);
    le(directory, 0, 2);
    le(directory, 0, 2);
    le(directory, 0, 4);
    le(directory, 0, 4);
    le(directory, data.size(), 4);
    le(directory, data.size(), 4);
    le(directory, name.size(), 2);
    le(directory, 0, 2);
    le(directory, 0, 2);
    le(directory, 0, 2);
    le(directory, 0, 2);
    le(directory, 0, 4);
    le(directory, offset, 4);
    directory += name;
  }
  const uint64_t dir_offset = out.size();
  out += directory;
  le(out, 0x06054b50, 4);
  le(out, 0, 2);
  le(out, 0, 2);
  le(out, entries.size(), 2);
  le(out, entries.size(), 2);
  le(out, directory.size(), 4);
  le(out, dir_offset, 4);
  le(out, 0, 2);
  return out;
}

void ExpectSameTensors(const TensorMap& actual, const TensorMap& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, want] : expected) {
    auto it = actual.find(name);
    ASSERT_NE(it, actual.end()) << name;
    EXPECT_EQ(it->second.scalar_type(), want.scalar_type()) << name;
    ASSERT_EQ(it->second.sizes(), want.sizes()) << name;
    EXPECT_TRUE(torch::equal(it->second, want)) << name;
  }
}

TEST(TorchFileTest, LegacyCaveStateDictReadsExactly) {
  const TensorMap reference = LoadTestTensors("fixtures/cave/weights.safetensors");
  for (const char* file : {"import/cave_legacy.pth"}) {
    auto contents = ReadTorchFile(TestdataPath(file));
    ASSERT_TRUE(contents.ok()) << file << ": " << contents.status();
    for (const auto& [name, want] : reference) {
      auto it = contents->tensors.find(name);
      ASSERT_NE(it, contents->tensors.end()) << file << " lacks " << name;
      EXPECT_TRUE(torch::equal(it->second, want)) << file << " " << name;
    }
  }
}

TEST(TorchFileTest, ViewsDtypesAndSharedStorages) {
  const TensorMap expected = LoadTestTensors("import/views_expected.safetensors");
  for (const char* file : {"import/views_zip.pt", "import/views_legacy.pt"}) {
    auto contents = ReadTorchFile(TestdataPath(file));
    ASSERT_TRUE(contents.ok()) << file << ": " << contents.status();
    ExpectSameTensors(contents->tensors, expected);
    for (const auto& [name, t] : contents->tensors) {
      EXPECT_TRUE(t.is_contiguous()) << name;
    }
  }
}

TEST(TorchFileTest, CommonWrappersAreRecognised) {
  auto contents = ReadTorchFile(TestdataPath("import/wrapped_zip.pt"));
  ASSERT_TRUE(contents.ok()) << contents.status();
  std::string note;
  const TensorMap state = ExtractStateDict(contents->tensors, &note);
  // The expected file keeps the inner names ("module.a"); the prefix goes.
  TensorMap expected;
  for (auto& [name, t] : LoadTestTensors("import/wrapped_expected.safetensors")) {
    ASSERT_EQ(name.rfind("module.", 0), 0u) << name;
    expected.emplace(name.substr(7), t);
  }
  ExpectSameTensors(state, expected);
  EXPECT_NE(note.find("state_dict"), std::string::npos) << note;
  EXPECT_NE(note.find("module."), std::string::npos) << note;
}

TEST(TorchFileTest, NonTensorValuesBecomeJson) {
  auto contents = ReadTorchFile(TestdataPath("import/codiff_legacy.pkl"));
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(contents->values.at("rank_unet"), 4);
  EXPECT_TRUE(contents->values.at("unet_lora_encoder_modules").is_array());
  EXPECT_GT(contents->tensors.count("proj.weight"), 0u);
}

TEST(TorchFileTest, ForeignGlobalsAreRefusedAndNothingRuns) {
  std::remove(kPwnedMarker);
  for (const char* file : {"import/evil_os_system_legacy.pkl", "import/evil_eval_zip.pt"}) {
    auto contents = ReadTorchFile(TestdataPath(file));
    ASSERT_FALSE(contents.ok()) << file;
    EXPECT_EQ(contents.status().code(), absl::StatusCode::kPermissionDenied) << file;
    const std::string message(contents.status().message());
    EXPECT_NE(message.find("refused global"), std::string::npos) << message;
    EXPECT_TRUE(message.find("system") != std::string::npos ||
                message.find("builtins.eval") != std::string::npos)
        << message;
  }
  EXPECT_FALSE(fs::exists(kPwnedMarker));
}

TEST(TorchFileTest, HandMadeHostilePicklesAreRefused) {
  // GLOBAL 'os system' + REDUCE: refused at the GLOBAL, before the call.
  const std::string os_system =
      std::string("\x80\x02") + "cos\nsystem\nX\x05\x00\x00\x00touch\x85R.";
  auto tree = ParseTorchPickle(Span(os_system));
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("'os.system'"), std::string::npos) << tree.status();
  // STACK_GLOBAL spelling of builtins.eval.
  const std::string eval = std::string("\x80\x04\x8c\x08") + "builtins" + "\x8c\x04" + "eval" +
                           "\x93" + "\x8c\x01x\x85R.";
  tree = ParseTorchPickle(Span(eval));
  ASSERT_FALSE(tree.ok());
  EXPECT_NE(tree.status().message().find("'builtins.eval'"), std::string::npos) << tree.status();
  // Opcodes that build arbitrary objects.
  tree = ParseTorchPickle(Span(std::string("\x80\x02(ios\nsystem\n.")));
  EXPECT_FALSE(tree.ok());
}

TEST(TorchFileTest, CyclesAndDeepNestingGiveAnErrorNotACrash) {
  // Legacy layout around an object pickle that appends a list to itself.
  std::string legacy("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
  legacy += std::string("\x80\x02M\xe9\x03.", 6);  // protocol 1001
  legacy += std::string("\x80\x02}.", 4);          // system info
  legacy += std::string(
      "\x80\x02]q\x00h\x00"
      "a.",
      9);
  legacy += std::string("\x80\x02].", 4);  // no storages
  auto contents = ReadTorchFile(WriteTemp("cycle", legacy));
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(contents.status().message().find("nested too deeply"), std::string::npos)
      << contents.status();
  // A DAG that doubles at each level (2^60 paths, shallower than the depth
  // limit) is cut off by the value count, not walked.
  std::string dag(legacy.substr(0, 25));
  dag += std::string("\x80\x02]q\x00", 5);
  for (int i = 0; i < 60; ++i) dag += std::string("h\x00h\x00\x86q\x00", 7);
  dag += ".";
  dag += std::string("\x80\x02].", 4);
  contents = ReadTorchFile(WriteTemp("dag", dag));
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(contents.status().message().find("too many values"), std::string::npos)
      << contents.status();
}

TEST(TorchFileTest, BadOffsetsAndSizesAreErrors) {
  for (const char* file :
       {"import/bad_offset_zip.pt", "import/bad_offset_legacy.pt", "import/bad_size_zip.pt"}) {
    auto contents = ReadTorchFile(TestdataPath(file));
    ASSERT_FALSE(contents.ok()) << file;
    EXPECT_EQ(contents.status().code(), absl::StatusCode::kInvalidArgument) << file;
    EXPECT_NE(contents.status().message().find("storage"), std::string::npos) << contents.status();
  }
}

TEST(TorchFileTest, EveryTruncationIsAnError) {
  for (const char* file :
       {"import/cave_legacy.pth", "import/codiff_zip.pkl", "import/codiff_legacy.pkl",
        "import/vae_diffusion_pytorch_model.fp16.bin"}) {
    const std::string bytes = ReadBytes(TestdataPath(file));
    ASSERT_GT(bytes.size(), 1000u);
    int checked = 0;
    for (size_t cut = 0; cut < bytes.size(); cut += std::max<size_t>(1, bytes.size() / 97)) {
      auto contents = ReadTorchFile(WriteTemp("cut", bytes.substr(0, cut)));
      EXPECT_FALSE(contents.ok()) << file << " cut at " << cut;
      ++checked;
    }
    EXPECT_GT(checked, 90);
  }
}

TEST(TorchFileTest, ZipWithoutDataRecordsIsAnError) {
  const std::string bytes = ReadBytes(TestdataPath("import/codiff_zip.pkl"));
  auto entries = ReadStoredZipDirectory(Span(bytes));
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::string pickle_name, pickle;
  for (const ZipEntry& e : *entries) {
    if (e.name.size() > 9 && e.name.substr(e.name.size() - 9) == "/data.pkl") {
      pickle_name = e.name;
      pickle = bytes.substr(e.data_offset, e.size);
    }
  }
  ASSERT_FALSE(pickle.empty());
  auto contents = ReadTorchFile(WriteTemp("nodata", StoredZip({{pickle_name, pickle}})));
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(contents.status().message().find("has no data"), std::string::npos)
      << contents.status();
  // And a zip that is not a torch.save archive at all.
  contents = ReadTorchFile(WriteTemp("notorch", StoredZip({{"readme.txt", "hello"}})));
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(contents.status().message().find("data.pkl"), std::string::npos) << contents.status();
}

TEST(TorchFileTest, EmptyAndForeignFilesAreErrors) {
  EXPECT_FALSE(ReadTorchFile(WriteTemp("empty", "")).ok());
  auto contents = ReadTorchFile(WriteTemp("text", "not a checkpoint at all"));
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(contents.status().message().find("not a torch.save file"), std::string::npos);
  EXPECT_EQ(ReadTorchFile("/nonexistent/file.pth").status().code(), absl::StatusCode::kNotFound);
}

TEST(TorchFileTest, AllowListNamesOnlyTensorAndContainerGlobals) {
  for (const std::string& name : AllowedPickleGlobals()) {
    EXPECT_TRUE(name.rfind("torch.", 0) == 0 || name == "collections.OrderedDict" ||
                name == "_codecs.encode")
        << name;
  }
}

}  // namespace
}  // namespace codiff
