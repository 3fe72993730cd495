#include <set>

#include <gtest/gtest.h>

#include "core/image/jpeg_header.h"
#include "tests/training/training_test_util.h"
#include "training/data/batch.h"
#include "training/data/jpeg_table_bank.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {
namespace {

DataOptions Options(const std::string& dir, uint64_t seed, int workers) {
  DataOptions o;
  o.dirs = {dir};
  o.crop = 64;
  o.seed = seed;
  o.workers = workers;
  o.degradation.double_jpeg_prob = 0.3;
  return o;
}

TEST(TrainingDataTest, SamplesAreDeterministicUnderASeed) {
  const std::string dir = testing::WriteSyntheticImages(4, 120, 100, 1);
  auto a = PairDataset::Open(Options(dir, 11, 1));
  auto b = PairDataset::Open(Options(dir, 11, 3));
  auto c = PairDataset::Open(Options(dir, 12, 2));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ((*a)->num_sources(), 4u);  // two of them in a nested folder
  auto sa = (*a)->Samples(5, 6);
  auto sb = (*b)->Samples(5, 6);
  auto sc = (*c)->Samples(5, 6);
  ASSERT_TRUE(sa.ok() && sb.ok() && sc.ok()) << sa.status();
  int differing = 0;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ((*sa)[i].hq.data, (*sb)[i].hq.data);
    EXPECT_EQ((*sa)[i].lq.data, (*sb)[i].lq.data);
    EXPECT_EQ((*sa)[i].qf, (*sb)[i].qf);
    EXPECT_EQ((*sa)[i].hq.width, 64);
    EXPECT_EQ((*sa)[i].lq.height, 64);
    EXPECT_NE((*sa)[i].hq.data, (*sa)[i].lq.data);  // JPEG changed something
    differing += (*sa)[i].hq.data != (*sc)[i].hq.data;
  }
  EXPECT_GT(differing, 0) << "another seed must give other samples";
  // The same index alone gives the same sample as inside a batch.
  auto single = (*a)->Sample(7);
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->lq.data, (*sa)[2].lq.data);
}

TEST(TrainingDataTest, QualityFactorsFollowTheReferenceMix) {
  DegradationOptions o;
  std::mt19937_64 rng(3);
  int from_set = 0;
  for (int i = 0; i < 4000; ++i) {
    const int qf = DrawQualityFactor(o, rng);
    ASSERT_GE(qf, 8);
    ASSERT_LE(qf, 96);
    from_set += qf % 10 == 0 && qf <= 60;
  }
  // 75% from {10..60} plus the uniform draws that land there (6/89 of 25%).
  EXPECT_NEAR(from_set / 4000.0, 0.75 + 0.25 * 6 / 89.0, 0.03);
  o.qf_mode = "uniform";
  o.qf_min = 30;
  o.qf_max = 32;
  std::set<int> seen;
  for (int i = 0; i < 200; ++i) seen.insert(DrawQualityFactor(o, rng));
  EXPECT_EQ(seen, (std::set<int>{30, 31, 32}));
}

TEST(TrainingDataTest, LogScaleQualityFactorsGiveEachStepOctaveTheSameShare) {
  DegradationOptions o;
  o.qf_mode = "log_scale";
  o.qf_min = 5;
  o.qf_max = 95;
  std::mt19937_64 rng(11);
  const int n = 20000;
  int below_10 = 0, from_10_to_20 = 0, from_50 = 0;
  for (int i = 0; i < n; ++i) {
    const int qf = DrawQualityFactor(o, rng);
    ASSERT_GE(qf, 5);
    ASSERT_LE(qf, 95);
    below_10 += qf < 10;
    from_10_to_20 += qf >= 10 && qf < 20;
    from_50 += qf >= 50;
  }
  // Scales 1000%..10% span log(100); 5..10 and 10..20 are one doubling each
  // (log 2 / log 100 = 15%), 50..95 is 100%..10% (half). Integer rounding
  // moves each share by under a percent.
  EXPECT_NEAR(below_10 / double(n), 0.15, 0.015);
  EXPECT_NEAR(from_10_to_20 / double(n), 0.15, 0.015);
  EXPECT_NEAR(from_50 / double(n), 0.5, 0.015);
}

TEST(TrainingDataTest, BatchesAreTensorsInUnitRange) {
  const std::string dir = testing::WriteSyntheticImages(2, 80, 80, 2);
  auto ds = PairDataset::Open(Options(dir, 1, 2));
  ASSERT_TRUE(ds.ok());
  BatchLoader loader(**ds, 3, 0);
  auto batch = loader.Next();
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->hq.sizes(), (std::vector<int64_t>{3, 3, 64, 64}));
  EXPECT_GE(batch->lq.min().item<float>(), 0.0f);
  EXPECT_LE(batch->lq.max().item<float>(), 1.0f);
  EXPECT_EQ(batch->qf.size(0), 3);
}

TEST(TrainingDataTest, RejectsBadOptions) {
  const std::string dir = testing::WriteSyntheticImages(1, 64, 64, 3);
  DataOptions o = Options(dir, 1, 1);
  o.crop = 50;
  EXPECT_FALSE(PairDataset::Open(o).ok());
  o = Options(dir + "/missing", 1, 1);
  EXPECT_FALSE(PairDataset::Open(o).ok());
  o = Options(dir, 1, 1);
  o.degradation.qf_mode = "log_scale";
  o.degradation.qf_min = 60;
  o.degradation.qf_max = 20;
  EXPECT_FALSE(PairDataset::Open(o).ok());
  o.degradation.qf_mode = "gaussian";
  EXPECT_FALSE(PairDataset::Open(o).ok());
  o = Options(dir, 1, 1);
  o.degradation.table_bank_prob = 1.5;
  EXPECT_FALSE(PairDataset::Open(o).ok());
  o = Options(dir, 1, 1);
  o.degradation.subsampling = {"4:1:1"};
  EXPECT_FALSE(PairDataset::Open(o).ok());
  o = Options(dir, 1, 1);
  o.degradation.table_jitter = -0.1;
  EXPECT_FALSE(PairDataset::Open(o).ok());
}

TEST(TableBankTest, FilesCarryTheDrawnTablesAndSubsampling) {
  image::Image rgb(72, 40, 3);
  for (size_t i = 0; i < rgb.data.size(); ++i) rgb.data[i] = static_cast<uint8_t>((i * 37) % 251);
  DegradationOptions options;
  options.chroma_qf_spread = 20;
  options.table_jitter = 0.3;
  options.subsampling = {"4:2:2", "4:4:4"};
  std::mt19937_64 rng(3);
  std::set<std::string> subsamplings;
  for (int i = 0; i < 8; ++i) {
    const JpegTables tables = DrawJpegTables(options, 25, rng);
    auto bytes = EncodeJpegWithTables(rgb, tables);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto header = image::ParseJpegHeader(*bytes);
    ASSERT_TRUE(header.ok()) << header.status();
    ASSERT_EQ(header->quant_tables.size(), 2u);
    EXPECT_EQ(header->quant_tables[0].natural, tables.luma);
    EXPECT_EQ(header->quant_tables[1].natural, tables.chroma);
    EXPECT_EQ(header->subsampling, tables.subsampling);
    EXPECT_EQ(header->width, 72);
    subsamplings.insert(tables.subsampling);
    // Jittered tables are not libjpeg's, and the label is what the header
    // estimate reads from the file.
    EXPECT_NE(tables.luma, image::IjgScaledTable(25, false));
    EXPECT_EQ(LabelQuality(tables), header->qf);
    EXPECT_NEAR(LabelQuality(tables), 25, 15);
  }
  EXPECT_EQ(subsamplings.size(), 2u);
  JpegTables libjpeg;
  libjpeg.luma = image::IjgScaledTable(37, false);
  libjpeg.chroma = image::IjgScaledTable(37, true);
  EXPECT_EQ(LabelQuality(libjpeg), 37);
  libjpeg.subsampling = "4:1:1";
  EXPECT_FALSE(EncodeJpegWithTables(rgb, libjpeg).ok());
}

TEST(TableBankTest, DatasetUsesTheBankAtItsProbabilityOnly) {
  const std::string dir = testing::WriteSyntheticImages(2, 96, 96, 5);
  DataOptions plain = Options(dir, 21, 1);
  plain.degradation.double_jpeg_prob = 0.0;
  DataOptions bank = plain;
  bank.degradation.table_bank_prob = 1.0;
  bank.degradation.table_jitter = 0.2;
  auto a = PairDataset::Open(plain);
  auto b = PairDataset::Open(bank);
  auto b2 = PairDataset::Open(bank);
  ASSERT_TRUE(a.ok() && b.ok() && b2.ok());
  auto sa = (*a)->Samples(0, 6);
  auto sb = (*b)->Samples(0, 6);
  auto sb2 = (*b2)->Samples(0, 6);
  ASSERT_TRUE(sa.ok() && sb.ok() && sb2.ok()) << sb.status();
  int differing = 0;
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ((*sb)[i].lq.data, (*sb2)[i].lq.data);  // deterministic
    EXPECT_NE((*sb)[i].lq.data, (*sb)[i].hq.data);
    EXPECT_GE((*sb)[i].qf, 1);
    EXPECT_LE((*sb)[i].qf, 100);
    differing += (*sa)[i].lq.data != (*sb)[i].lq.data;
  }
  EXPECT_GT(differing, 0);
}

}  // namespace
}  // namespace codiff::training
