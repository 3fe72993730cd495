#include "core/models/discriminator.h"

#include <torch/torch.h>

namespace codiff::models {

int64_t LatentDiscriminatorImpl::HeadGroups(int64_t channels) {
  for (int64_t g = 32; g > 1; --g) {
    if (channels % g == 0) return g;
  }
  return 1;
}

LatentDiscriminatorImpl::LatentDiscriminatorImpl(const LatentDiscriminatorOptions& options)
    : options_(options) {
  const UNet2DConditionConfig& c = options.unet;
  const auto& boc = c.block_out_channels;
  const size_t n = boc.size();
  TORCH_CHECK(n > 0 && c.down_block_types.size() == n && c.num_attention_heads.size() == n &&
                  c.transformer_layers_per_block.size() == n,
              "LatentDiscriminator: inconsistent per-block lists");
  const int64_t temb = c.TimeEmbeddingChannels();

  // Same names and order as UNet2DConditionModel, so a UNet state dict
  // (minus up blocks and output layers) loads into the backbone.
  conv_in_ = register_module("conv_in", LoraCompatibleConv2d(c.in_channels, boc[0], 3, 1, 1));
  time_embedding_ = register_module("time_embedding", TimestepEmbedding(boc[0], temb));
  down_blocks_ = register_module("down_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const DownBlock2DOptions o = c.DownBlockOptions(i);
    DownEntry entry;
    if (c.down_block_types[i] == "CrossAttnDownBlock2D") {
      entry.cross = CrossAttnDownBlock2D(o);
      down_blocks_->push_back(entry.cross);
    } else {
      entry.plain = DownBlock2D(o);
      down_blocks_->push_back(entry.plain);
    }
    down_.push_back(entry);
  }
  const UNetMidBlock2DCrossAttnOptions m = c.MidBlockOptions();
  mid_block_ = register_module("mid_block", UNetMidBlock2DCrossAttn(m));

  // The learned context replaces the text embedding the SD UNet expects.
  context_ = register_parameter(
      "context", torch::randn({1, options.context_tokens, c.cross_attention_dim}) * 0.02);

  const int64_t ch = boc[n - 1];
  head_conv1_ = register_module(
      "head_conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, 2 * ch, 4).padding(1)));
  head_norm_ = register_module("head_norm", torch::nn::GroupNorm(HeadGroups(2 * ch), 2 * ch));
  head_conv2_ = register_module(
      "head_conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(2 * ch, 1, 4).padding(1)));
}

torch::Tensor LatentDiscriminatorImpl::forward(const torch::Tensor& latents) {
  const int64_t batch = latents.size(0);
  const UNet2DConditionConfig& c = options_.unet;
  torch::Tensor t = torch::full({batch}, static_cast<double>(options_.timestep),
                                latents.options().dtype(torch::kFloat32));
  const torch::Tensor emb = time_embedding_(
      TimestepProjection(t, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift)
          .to(latents.scalar_type()));
  const torch::Tensor context = context_.expand({batch, -1, -1});
  torch::Tensor h = conv_in_(latents);
  for (auto& entry : down_) {
    h = entry.cross ? entry.cross->forward(h, emb, context).hidden
                    : entry.plain->forward(h, emb).hidden;
  }
  h = mid_block_->forward(h, emb, context);
  // Two 4x4 convs with padding 1 shrink each side by 2; small crops (64 px
  // in tests: a 1x1 mid block) are zero-padded to 3x3 so one logit remains.
  const int64_t ph = std::max<int64_t>(0, 3 - h.size(2)), pw = std::max<int64_t>(0, 3 - h.size(3));
  if (ph > 0 || pw > 0) {
    h = torch::nn::functional::pad(
        h, torch::nn::functional::PadFuncOptions({pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}));
  }
  h = torch::silu(head_norm_(head_conv1_(h)));
  return head_conv2_(h);
}

}  // namespace codiff::models
