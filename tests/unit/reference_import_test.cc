// codiff-model import on a tiny released-layout set (tests/testdata/import,
// made by real torch.save): merged weights equal torch's merge, restores
// through the imported folder equal restores through a folder written from
// those merged weights, and every malformed input is an error naming its key.
#include "core/weights/reference_import.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <string>

#include "core/image/image.h"
#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/pipeline/restorer.h"
#include "core/util/sha256.h"
#include "core/weights/model_folder.h"
#include "core/weights/safetensors.h"
#include "core/weights/state_dict.h"
#include "core/weights/torch_file.h"
#include "tests/test_support.h"

namespace codiff {
namespace {

namespace fs = std::filesystem;
using testing::LoadTestTensors;
using testing::MakeTempDir;
using testing::TestdataPath;

// A diffusers-style SD folder from the tiny parity fixtures: safetensors, or
// the variants mirrors ship: an fp16 UNet safetensors, an fp16 VAE .bin
// (torch.save).
std::string MakeSd21Folder(const std::string& tag, bool fp16_unet = false, bool vae_bin = false) {
  const std::string dir = MakeTempDir(tag);
  fs::create_directories(dir + "/unet");
  fs::create_directories(dir + "/vae");
  fs::copy_file(TestdataPath("fixtures/unet_tiny/config.json"), dir + "/unet/config.json");
  fs::copy_file(TestdataPath("fixtures/vae_tiny/config.json"), dir + "/vae/config.json");
  if (fp16_unet) {
    NamedTensors half;
    for (auto& [name, t] : LoadTestTensors("fixtures/unet_tiny/weights.safetensors")) {
      half.emplace_back(name, t.to(torch::kFloat16));
    }
    EXPECT_TRUE(WriteTensorFile(dir + "/unet/diffusion_pytorch_model.fp16.safetensors", half).ok());
  } else {
    fs::copy_file(TestdataPath("fixtures/unet_tiny/weights.safetensors"),
                  dir + "/unet/diffusion_pytorch_model.safetensors");
  }
  if (vae_bin) {
    fs::copy_file(TestdataPath("import/vae_diffusion_pytorch_model.fp16.bin"),
                  dir + "/vae/diffusion_pytorch_model.fp16.bin");
  } else {
    fs::copy_file(TestdataPath("fixtures/vae_tiny/weights.safetensors"),
                  dir + "/vae/diffusion_pytorch_model.safetensors");
  }
  return dir;
}

ReferenceImportSources Sources(const std::string& sd21, const std::string& cave,
                               const std::string& codiff) {
  return {sd21, TestdataPath("import/" + cave), TestdataPath("import/" + codiff)};
}

absl::Status ImportError(const std::string& codiff_file) {
  auto report = ImportReferenceModel(Sources(MakeSd21Folder("sd"), "cave_legacy.pth", codiff_file),
                                     MakeTempDir("out"), {});
  return report.status();
}

// Every tensor of the imported folder: the script's merged value where it
// computed one, else the base file's value unchanged.
void ExpectFolderEqualsMergedWeights(const std::string& dir) {
  const TensorMap merged = LoadTestTensors("import/merged_expected.safetensors");
  // CaVE's base: the float weights of fixtures/cave (TorchFileTest checks the
  // reader against them) plus the file's BatchNorm step counters.
  auto cave = ReadTorchFile(TestdataPath("import/cave_legacy.pth"));
  ASSERT_TRUE(cave.ok()) << cave.status();
  const TensorMap bases[] = {LoadTestTensors("fixtures/unet_tiny/weights.safetensors"),
                             LoadTestTensors("fixtures/vae_tiny/weights.safetensors"),
                             cave->tensors};
  const char* parts[] = {"unet", "vae", "cave"};
  int compared_merged = 0;
  for (int p = 0; p < 3; ++p) {
    auto folder = ReadTensorFile(dir + "/" + parts[p] + ".safetensors");
    ASSERT_TRUE(folder.ok()) << folder.status();
    for (const auto& [name, t] : *folder) {
      auto m = merged.find(std::string(parts[p]) + "." + name);
      if (m != merged.end()) {
        EXPECT_LE(testing::MaxAbsDiff(t, m->second), 1e-6) << parts[p] << "." << name;
        ++compared_merged;
        continue;
      }
      auto b = bases[p].find(name);
      ASSERT_NE(b, bases[p].end()) << parts[p] << "." << name;
      EXPECT_TRUE(torch::equal(t.to(torch::kFloat32), b->second.to(torch::kFloat32)))
          << parts[p] << "." << name;
    }
  }
  auto proj = ReadTensorFile(dir + "/projection.safetensors");
  ASSERT_TRUE(proj.ok());
  for (const char* name : {"weight", "bias"}) {
    EXPECT_LE(testing::MaxAbsDiff(proj->at(name), merged.at(std::string("projection.") + name)),
              0.0);
  }
  // Every merged tensor the script wrote was compared (+2 for the projection).
  EXPECT_EQ(compared_merged + 2, static_cast<int>(merged.size()));
}

image::DecodedImage TestImage() {
  image::Image img(96, 64, 3);
  for (size_t i = 0; i < img.data.size(); ++i) {
    img.data[i] = static_cast<uint8_t>((i * 37 + (i / 288) * 11) % 251);
  }
  auto png = image::EncodeImage(img);
  EXPECT_TRUE(png.ok());
  auto decoded = image::DecodeImage(*png);
  EXPECT_TRUE(decoded.ok());
  return *decoded;
}

image::Image RestoreThrough(const std::string& dir) {
  pipeline::RestorerConfig config;
  config.tiles = {64, 16};
  auto restorer = pipeline::Restorer::FromModelFolder(dir, config);
  EXPECT_TRUE(restorer.ok()) << restorer.status();
  auto result = (*restorer)->Restore(TestImage(), {});
  EXPECT_TRUE(result.ok()) << result.status();
  return result->image;
}

TEST(ReferenceImportTest, MergedWeightsEqualTorchsMergeInBothPickleFormats) {
  for (const char* codiff : {"codiff_zip.pkl", "codiff_legacy.pkl"}) {
    const std::string out = MakeTempDir("imported");
    auto report =
        ImportReferenceModel(Sources(MakeSd21Folder("sd"), "cave_legacy.pth", codiff), out, {});
    ASSERT_TRUE(report.ok()) << report.status();
    ExpectFolderEqualsMergedWeights(out);
  }
}

TEST(ReferenceImportTest, FolderRecordsPresetSizesAndProvenance) {
  const std::string sd = MakeSd21Folder("sd");
  const std::string out = MakeTempDir("imported");
  auto report = ImportReferenceModel(Sources(sd, "cave_legacy.pth", "codiff_zip.pkl"), out, {});
  ASSERT_TRUE(report.ok()) << report.status();
  ModelProvenance provenance;
  auto arch = ReadModelArchitecture(out, &provenance);
  ASSERT_TRUE(arch.ok()) << arch.status();
  EXPECT_EQ(arch->preset, "sd21");
  EXPECT_EQ(arch->cave.widths, (std::vector<int64_t>{8, 16, 32, 64}));
  EXPECT_EQ(arch->cave.blocks_per_stage, 4);
  EXPECT_EQ(arch->unet.cross_attention_dim, 32);
  EXPECT_EQ(arch->unet_lora.rank, 0);  // merged
  EXPECT_TRUE(provenance.trained);
  ASSERT_EQ(provenance.sources.size(), 4u);
  for (const SourceFile& source : provenance.sources) {
    auto digest = Sha256OfFile(source.path);
    ASSERT_TRUE(digest.ok());
    EXPECT_EQ(source.sha256, *digest) << source.role;
    EXPECT_EQ(source.sha256.size(), 64u);
  }
  EXPECT_EQ(provenance.sources[0].role, "unet");
  EXPECT_EQ(provenance.sources[3].role, "codiff");
}

TEST(ReferenceImportTest, RestoreEqualsRestoreThroughFolderOfMergedWeights) {
  const std::string imported = MakeTempDir("imported");
  auto report = ImportReferenceModel(
      Sources(MakeSd21Folder("sd"), "cave_legacy.pth", "codiff_legacy.pkl"), imported, {});
  ASSERT_TRUE(report.ok()) << report.status();

  // The comparison folder: a generator of the same architecture loaded from
  // the base fixtures with the script's merged tensors on top.
  auto arch = ReadModelArchitecture(imported, nullptr);
  ASSERT_TRUE(arch.ok());
  models::OneStepGenerator generator = BuildGenerator(*arch);
  const TensorMap merged = LoadTestTensors("import/merged_expected.safetensors");
  struct Part {
    const char* name;
    torch::nn::Module* module;
    const char* base;
  };
  const Part parts[] = {{"unet", generator->unet().get(), "fixtures/unet_tiny/weights.safetensors"},
                        {"vae", generator->vae().get(), "fixtures/vae_tiny/weights.safetensors"},
                        {"cave", generator->cave().get(), "fixtures/cave/weights.safetensors"},
                        {"projection", generator->proj().get(), nullptr}};
  for (const Part& part : parts) {
    TensorMap source = part.base ? LoadTestTensors(part.base) : TensorMap();
    const std::string prefix = std::string(part.name) + ".";
    for (const auto& [key, t] : merged) {
      if (key.rfind(prefix, 0) == 0) source[key.substr(prefix.size())] = t;
    }
    auto loaded = LoadStateDictStrict(*part.module, source);
    ASSERT_TRUE(loaded.ok()) << part.name << ": " << loaded.status();
  }
  const std::string expected_dir = MakeTempDir("expected");
  ModelProvenance provenance;
  provenance.trained = true;
  ASSERT_TRUE(WriteModelFolder(expected_dir, *generator, provenance).ok());

  const image::Image a = RestoreThrough(imported);
  const image::Image b = RestoreThrough(expected_dir);
  ASSERT_EQ(a.data.size(), b.data.size());
  ASSERT_FALSE(a.data.empty());
  int max_diff = 0;
  for (size_t i = 0; i < a.data.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(int(a.data[i]) - int(b.data[i])));
  }
  std::printf("[ parity   ] imported vs merged-folder restore: max 8-bit diff %d\n", max_diff);
  EXPECT_LE(max_diff, 1);
}

TEST(ReferenceImportTest, KeepLoraLoadsToTheSameWeights) {
  const std::string kept = MakeTempDir("kept");
  ReferenceImportOptions options;
  options.keep_lora = true;
  auto report = ImportReferenceModel(
      Sources(MakeSd21Folder("sd"), "cave_legacy.pth", "codiff_zip.pkl"), kept, options);
  ASSERT_TRUE(report.ok()) << report.status();
  auto arch = ReadModelArchitecture(kept, nullptr);
  ASSERT_TRUE(arch.ok());
  EXPECT_EQ(arch->unet_lora.rank, 4);
  EXPECT_DOUBLE_EQ(arch->unet_lora.alpha, 8.0);
  auto loaded = LoadModelFolder(kept);  // merges at load
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const TensorMap merged = LoadTestTensors("import/merged_expected.safetensors");
  const NamedTensors unet = StateDictOf(*loaded->generator->unet());
  int compared = 0;
  for (const auto& [name, t] : unet) {
    auto m = merged.find("unet." + name);
    if (m == merged.end()) continue;
    EXPECT_LE(testing::MaxAbsDiff(t, m->second), 1e-6) << name;
    ++compared;
  }
  EXPECT_GT(compared, 50);
}

TEST(ReferenceImportTest, Fp16SafetensorsAndBinVariantsAreConvertedToFp32) {
  const std::string out = MakeTempDir("imported");
  auto report =
      ImportReferenceModel(Sources(MakeSd21Folder("sd", /*fp16_unet=*/true, /*vae_bin=*/true),
                                   "cave_legacy.pth", "codiff_zip.pkl"),
                           out, {});
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& [part, key] :
       {std::pair<std::string, std::string>{"unet", "mid_block.resnets.0.norm1.weight"},
        {"vae", "decoder.conv_in.weight"}}) {
    auto folder = ReadTensorFile(out + "/" + part + ".safetensors");
    ASSERT_TRUE(folder.ok());
    const TensorMap base = LoadTestTensors("fixtures/" + part + "_tiny/weights.safetensors");
    const torch::Tensor& t = folder->at(key);
    EXPECT_EQ(t.scalar_type(), torch::kFloat32) << part;
    // Exactly the fp16 rounding of the base weight, converted back.
    EXPECT_TRUE(torch::equal(t, base.at(key).to(torch::kFloat16).to(torch::kFloat32))) << part;
    EXPECT_FALSE(torch::equal(t, base.at(key))) << part << ": not read from the fp16 file?";
  }
}

TEST(ReferenceImportTest, StoredDtypeFollowsOption) {
  const std::string out = MakeTempDir("imported");
  ReferenceImportOptions options;
  options.dtype = "float16";
  auto report = ImportReferenceModel(
      Sources(MakeSd21Folder("sd"), "cave_legacy.pth", "codiff_zip.pkl"), out, options);
  ASSERT_TRUE(report.ok()) << report.status();
  auto unet = ReadTensorFile(out + "/unet.safetensors");
  ASSERT_TRUE(unet.ok());
  EXPECT_EQ(unet->at("conv_in.weight").scalar_type(), torch::kFloat16);
  options.dtype = "int8";
  EXPECT_EQ(ImportReferenceModel(Sources(MakeSd21Folder("sd"), "cave_legacy.pth", "codiff_zip.pkl"),
                                 MakeTempDir("bad"), options)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReferenceImportTest, LoraOnALayerThatDoesNotExistNamesTheKey) {
  const absl::Status status = ImportError("lora_bad_base.pkl");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("to_x"), std::string::npos) << status;
}

TEST(ReferenceImportTest, UnknownAdapterNameIsAnError) {
  const absl::Status status = ImportError("lora_bad_adapter.pkl");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("default_middle"), std::string::npos) << status;
}

TEST(ReferenceImportTest, MissingRankIsAnError) {
  const absl::Status status = ImportError("lora_no_rank.pkl");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("rank_vae"), std::string::npos) << status;
}

TEST(ReferenceImportTest, RankThatDisagreesWithTheTensorsIsAnError) {
  const absl::Status status = ImportError("lora_wrong_rank.pkl");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("rank"), std::string::npos) << status;
  EXPECT_NE(status.message().find("lora_"), std::string::npos) << status;
}

TEST(ReferenceImportTest, MissingFilesAreClearErrors) {
  const std::string sd = MakeTempDir("empty_sd");
  auto report = ImportReferenceModel(Sources(sd, "cave_legacy.pth", "codiff_zip.pkl"),
                                     MakeTempDir("out"), {});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("diffusion_pytorch_model"), std::string::npos)
      << report.status();
  // A CaVE file given where codiff.pkl belongs.
  report = ImportReferenceModel(Sources(MakeSd21Folder("sd"), "cave_legacy.pth", "cave_legacy.pth"),
                                MakeTempDir("out"), {});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("rank_unet"), std::string::npos) << report.status();
}

}  // namespace
}  // namespace codiff
