// Full-size SD 2.1-base UNet and VAE: state-dict names, shapes and order equal
// the diffusers 0.25.1 key lists in tests/testdata/fixtures/sd21_base_keys, so
// the released checkpoints load key for key. Building the UNet allocates
// about 3.5 GB of fp32 weights.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/autoencoder_kl.h"
#include "core/models/unet_2d_condition.h"
#include "core/weights/state_dict.h"
#include "tests/test_support.h"

namespace codiff::models {
namespace {

std::string ReadText(const std::string& relative) {
  std::ifstream in(testing::TestdataPath(relative));
  EXPECT_TRUE(in.good()) << relative;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Sd21KeysTest, UNetKeysAndShapesMatchDiffusers) {
  UNet2DConditionModel unet(UNet2DConditionConfig::Sd21Base());
  EXPECT_EQ(FormatKeyShapeLines(StateDictOf(*unet)),
            ReadText("fixtures/sd21_base_keys/unet_keys.tsv"));
}

TEST(Sd21KeysTest, VaeKeysAndShapesMatchDiffusers) {
  AutoencoderKL vae(AutoencoderKLConfig::Sd21());
  EXPECT_EQ(FormatKeyShapeLines(StateDictOf(*vae)),
            ReadText("fixtures/sd21_base_keys/vae_keys.tsv"));
}

TEST(Sd21KeysTest, UNetConfigJsonEqualsSd21Base) {
  auto parsed = UNet2DConditionConfig::FromJsonFile(
      testing::TestdataPath("fixtures/sd21_base_keys/unet_config.json"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const UNet2DConditionConfig expected = UNet2DConditionConfig::Sd21Base();
  EXPECT_EQ(parsed->sample_size, expected.sample_size);
  EXPECT_EQ(parsed->in_channels, expected.in_channels);
  EXPECT_EQ(parsed->out_channels, expected.out_channels);
  EXPECT_EQ(parsed->center_input_sample, expected.center_input_sample);
  EXPECT_EQ(parsed->flip_sin_to_cos, expected.flip_sin_to_cos);
  EXPECT_EQ(parsed->freq_shift, expected.freq_shift);
  EXPECT_EQ(parsed->down_block_types, expected.down_block_types);
  EXPECT_EQ(parsed->mid_block_type, expected.mid_block_type);
  EXPECT_EQ(parsed->up_block_types, expected.up_block_types);
  EXPECT_EQ(parsed->block_out_channels, expected.block_out_channels);
  EXPECT_EQ(parsed->layers_per_block, expected.layers_per_block);
  EXPECT_EQ(parsed->downsample_padding, expected.downsample_padding);
  EXPECT_EQ(parsed->mid_block_scale_factor, expected.mid_block_scale_factor);
  EXPECT_EQ(parsed->norm_num_groups, expected.norm_num_groups);
  EXPECT_EQ(parsed->norm_eps, expected.norm_eps);
  EXPECT_EQ(parsed->cross_attention_dim, expected.cross_attention_dim);
  EXPECT_EQ(parsed->transformer_layers_per_block, expected.transformer_layers_per_block);
  EXPECT_EQ(parsed->num_attention_heads, expected.num_attention_heads);
  EXPECT_EQ(parsed->use_linear_projection, expected.use_linear_projection);
  EXPECT_EQ(parsed->upcast_attention, expected.upcast_attention);
  EXPECT_EQ(parsed->time_embedding_dim, expected.time_embedding_dim);
}

TEST(Sd21KeysTest, VaeConfigJsonEqualsSd21) {
  auto parsed = AutoencoderKLConfig::FromJsonFile(
      testing::TestdataPath("fixtures/sd21_base_keys/vae_config.json"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const AutoencoderKLConfig expected = AutoencoderKLConfig::Sd21();
  EXPECT_EQ(parsed->in_channels, expected.in_channels);
  EXPECT_EQ(parsed->out_channels, expected.out_channels);
  EXPECT_EQ(parsed->block_out_channels, expected.block_out_channels);
  EXPECT_EQ(parsed->layers_per_block, expected.layers_per_block);
  EXPECT_EQ(parsed->latent_channels, expected.latent_channels);
  EXPECT_EQ(parsed->norm_num_groups, expected.norm_num_groups);
  EXPECT_EQ(parsed->sample_size, expected.sample_size);
  EXPECT_EQ(parsed->scaling_factor, expected.scaling_factor);
  EXPECT_EQ(parsed->force_upcast, expected.force_upcast);
}

}  // namespace
}  // namespace codiff::models
