#include "core/models/autoencoder_kl.h"

#include <fstream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace codiff::models {

AutoencoderKLConfig AutoencoderKLConfig::Sd21() { return AutoencoderKLConfig(); }

absl::StatusOr<AutoencoderKLConfig> AutoencoderKLConfig::FromJson(const nlohmann::json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("VAE config must be a JSON object");
  AutoencoderKLConfig c;
  try {
    c.in_channels = j.value("in_channels", c.in_channels);
    c.out_channels = j.value("out_channels", c.out_channels);
    c.block_out_channels = j.value("block_out_channels", c.block_out_channels);
    c.layers_per_block = j.value("layers_per_block", c.layers_per_block);
    c.latent_channels = j.value("latent_channels", c.latent_channels);
    c.norm_num_groups = j.value("norm_num_groups", c.norm_num_groups);
    c.sample_size = j.value("sample_size", c.sample_size);
    c.scaling_factor = j.value("scaling_factor", c.scaling_factor);
    c.force_upcast = j.value("force_upcast", c.force_upcast);
    c.use_quant_conv = j.value("use_quant_conv", c.use_quant_conv);
    c.use_post_quant_conv = j.value("use_post_quant_conv", c.use_post_quant_conv);
    c.mid_block_add_attention = j.value("mid_block_add_attention", c.mid_block_add_attention);
    const size_t n = c.block_out_channels.size();
    for (const auto& [key, expected] :
         {std::pair<const char*, const char*>{"down_block_types", "DownEncoderBlock2D"},
          {"up_block_types", "UpDecoderBlock2D"}}) {
      const auto types = j.value(key, std::vector<std::string>(n, expected));
      if (types.size() != n) {
        return absl::InvalidArgumentError(absl::StrCat("VAE config: ", key, " has ", types.size(),
                                                       " entries for ", n, " blocks"));
      }
      for (const auto& t : types) {
        if (t != expected) {
          return absl::UnimplementedError(absl::StrCat("VAE config: block type ", t));
        }
      }
    }
    if (j.value("act_fn", std::string("silu")) != "silu") {
      return absl::UnimplementedError("VAE config: only act_fn = silu is supported");
    }
    if (j.contains("latents_mean") && !j.at("latents_mean").is_null()) {
      return absl::UnimplementedError("VAE config: latents_mean/std are not supported");
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("VAE config: ", e.what()));
  }
  if (c.block_out_channels.empty() || c.layers_per_block <= 0 || c.latent_channels <= 0 ||
      c.norm_num_groups <= 0) {
    return absl::InvalidArgumentError("VAE config: sizes must be positive");
  }
  for (int64_t ch : c.block_out_channels) {
    if (ch <= 0 || ch % c.norm_num_groups != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "VAE config: ", ch, " channels are not a multiple of ", c.norm_num_groups, " groups"));
    }
  }
  return c;
}

absl::StatusOr<AutoencoderKLConfig> AutoencoderKLConfig::FromJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open VAE config " + path);
  nlohmann::json j = nlohmann::json::parse(in, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("VAE config is not valid JSON: " + path);
  return FromJson(j);
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& config) : config_(config) {
  VaeEncoderOptions e;
  e.in_channels = config.in_channels;
  e.out_channels = config.latent_channels;
  e.block_out_channels = config.block_out_channels;
  e.layers_per_block = config.layers_per_block;
  e.norm_num_groups = config.norm_num_groups;
  e.mid_block_add_attention = config.mid_block_add_attention;
  VaeDecoderOptions d;
  d.in_channels = config.latent_channels;
  d.out_channels = config.out_channels;
  d.block_out_channels = config.block_out_channels;
  d.layers_per_block = config.layers_per_block;
  d.norm_num_groups = config.norm_num_groups;
  d.mid_block_add_attention = config.mid_block_add_attention;
  encoder_ = register_module("encoder", VaeEncoder(e));
  decoder_ = register_module("decoder", VaeDecoder(d));
  const int64_t moments = 2 * config.latent_channels;
  if (config.use_quant_conv) {
    quant_conv_ = register_module("quant_conv", LoraCompatibleConv2d(moments, moments, 1));
  }
  if (config.use_post_quant_conv) {
    post_quant_conv_ = register_module(
        "post_quant_conv", LoraCompatibleConv2d(config.latent_channels, config.latent_channels, 1));
  }
}

DiagonalGaussian AutoencoderKLImpl::Encode(const torch::Tensor& x, Trace* trace) {
  torch::Tensor moments = encoder_(x, trace);
  if (quant_conv_) moments = quant_conv_(moments);
  DiagonalGaussian posterior(moments);
  if (trace) {
    Record(trace, "moments", moments);
    Record(trace, "mean", posterior.mean());
    Record(trace, "logvar", posterior.logvar());
    Record(trace, "std", posterior.std());
  }
  return posterior;
}

torch::Tensor AutoencoderKLImpl::Decode(const torch::Tensor& z, Trace* trace) {
  torch::Tensor h = post_quant_conv_ ? post_quant_conv_(z) : z;
  if (trace) Record(trace, "dec_post_quant", h);
  return decoder_(h, trace);
}

}  // namespace codiff::models
