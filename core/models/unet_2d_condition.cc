#include "core/models/unet_2d_condition.h"

#include <fstream>
#include <set>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "core/models/group_norm.h"
#include "core/util/status_macros.h"

namespace codiff::models {
namespace {

using nlohmann::json;

// A diffusers field that may be a scalar or a per-block list.
std::vector<int64_t> IntOrList(const json& value, size_t num_blocks, const char* name) {
  if (value.is_array()) {
    auto list = value.get<std::vector<int64_t>>();
    if (list.size() != num_blocks) {
      throw std::invalid_argument(
          absl::StrCat("'", name, "' has ", list.size(), " entries for ", num_blocks, " blocks"));
    }
    return list;
  }
  return std::vector<int64_t>(num_blocks, value.get<int64_t>());
}

// Fields whose non-default values change the network in ways not ported.
absl::Status CheckUnsupported(const json& j) {
  const std::vector<const char*> must_be_null = {"class_embed_type",
                                                 "addition_embed_type",
                                                 "encoder_hid_dim",
                                                 "encoder_hid_dim_type",
                                                 "num_class_embeds",
                                                 "time_cond_proj_dim",
                                                 "timestep_post_act",
                                                 "time_embedding_act_fn",
                                                 "cross_attention_norm",
                                                 "reverse_transformer_layers_per_block",
                                                 "projection_class_embeddings_input_dim"};
  for (const char* key : must_be_null) {
    if (j.contains(key) && !j.at(key).is_null()) {
      return absl::UnimplementedError(absl::StrCat("UNet config: '", key, "' is not supported"));
    }
  }
  const std::vector<std::pair<const char*, const char*>> must_equal = {
      {"act_fn", "silu"},
      {"resnet_time_scale_shift", "default"},
      {"time_embedding_type", "positional"},
      {"attention_type", "default"}};
  for (const auto& [key, expected] : must_equal) {
    if (j.contains(key) && j.at(key).get<std::string>() != expected) {
      return absl::UnimplementedError(
          absl::StrCat("UNet config: only ", key, " = \"", expected, "\" is supported"));
    }
  }
  for (const char* key : {"only_cross_attention", "dual_cross_attention", "resnet_skip_time_act",
                          "class_embeddings_concat"}) {
    if (j.contains(key) && j.at(key).is_boolean() && j.at(key).get<bool>()) {
      return absl::UnimplementedError(absl::StrCat("UNet config: '", key, "' is not supported"));
    }
  }
  if (j.contains("only_cross_attention") && j.at("only_cross_attention").is_array()) {
    return absl::UnimplementedError("UNet config: per-block only_cross_attention is not supported");
  }
  for (const char* key : {"conv_in_kernel", "conv_out_kernel"}) {
    if (j.contains(key) && j.at(key).get<int64_t>() != 3) {
      return absl::UnimplementedError(absl::StrCat("UNet config: only ", key, " = 3 is supported"));
    }
  }
  if (j.contains("resnet_out_scale_factor") &&
      j.at("resnet_out_scale_factor").get<double>() != 1.0) {
    return absl::UnimplementedError("UNet config: resnet_out_scale_factor must be 1");
  }
  if (j.contains("mid_block_only_cross_attention") &&
      j.at("mid_block_only_cross_attention").is_boolean() &&
      j.at("mid_block_only_cross_attention").get<bool>()) {
    return absl::UnimplementedError("UNet config: mid_block_only_cross_attention is not supported");
  }
  return absl::OkStatus();
}

absl::Status Validate(const UNet2DConditionConfig& c) {
  const size_t n = c.block_out_channels.size();
  if (n == 0 || c.down_block_types.size() != n || c.up_block_types.size() != n) {
    return absl::InvalidArgumentError(
        "UNet config: block_out_channels, down_block_types and up_block_types must have the "
        "same non-zero length");
  }
  const std::set<std::string> down_types = {"CrossAttnDownBlock2D", "DownBlock2D"};
  const std::set<std::string> up_types = {"CrossAttnUpBlock2D", "UpBlock2D"};
  for (const auto& t : c.down_block_types) {
    if (!down_types.count(t)) return absl::UnimplementedError("UNet config: down block " + t);
  }
  for (const auto& t : c.up_block_types) {
    if (!up_types.count(t)) return absl::UnimplementedError("UNet config: up block " + t);
  }
  if (c.mid_block_type != "UNetMidBlock2DCrossAttn") {
    return absl::UnimplementedError("UNet config: mid block " + c.mid_block_type);
  }
  if (!c.use_linear_projection) {
    return absl::UnimplementedError("UNet config: only use_linear_projection = true is ported");
  }
  if (c.num_attention_heads.size() != n || c.transformer_layers_per_block.size() != n) {
    return absl::InvalidArgumentError("UNet config: per-block lists have the wrong length");
  }
  if (c.norm_num_groups <= 0) {
    return absl::InvalidArgumentError("UNet config: norm_num_groups must be positive");
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t ch = c.block_out_channels[i];
    if (ch <= 0 || ch % c.norm_num_groups != 0) {
      return absl::InvalidArgumentError(absl::StrCat("UNet config: block_out_channels[", i,
                                                     "] = ", ch, " is not a positive multiple of ",
                                                     "norm_num_groups = ", c.norm_num_groups));
    }
    if (c.num_attention_heads[i] <= 0 || ch % c.num_attention_heads[i] != 0) {
      return absl::InvalidArgumentError(absl::StrCat("UNet config: ", c.num_attention_heads[i],
                                                     " heads do not divide ", ch, " channels"));
    }
  }
  if (c.layers_per_block <= 0 || c.cross_attention_dim <= 0) {
    return absl::InvalidArgumentError(
        "UNet config: layers_per_block and cross_attention_dim "
        "must be positive");
  }
  return absl::OkStatus();
}

}  // namespace

UNet2DConditionConfig UNet2DConditionConfig::Sd21Base() { return UNet2DConditionConfig(); }

int64_t UNet2DConditionConfig::TimeEmbeddingChannels() const {
  return time_embedding_dim > 0 ? time_embedding_dim : block_out_channels[0] * 4;
}

DownBlock2DOptions UNet2DConditionConfig::DownBlockOptions(size_t i) const {
  DownBlock2DOptions o;
  o.in_channels = block_out_channels[i == 0 ? 0 : i - 1];
  o.out_channels = block_out_channels[i];
  o.temb_channels = TimeEmbeddingChannels();
  o.num_layers = layers_per_block;
  o.groups = norm_num_groups;
  o.eps = norm_eps;
  o.add_downsample = i + 1 < block_out_channels.size();
  o.downsample_padding = downsample_padding;
  o.heads = num_attention_heads[i];
  o.transformer_layers = transformer_layers_per_block[i];
  o.cross_attention_dim = cross_attention_dim;
  return o;
}

UNetMidBlock2DCrossAttnOptions UNet2DConditionConfig::MidBlockOptions() const {
  const size_t last = block_out_channels.size() - 1;
  UNetMidBlock2DCrossAttnOptions m;
  m.in_channels = block_out_channels[last];
  m.temb_channels = TimeEmbeddingChannels();
  m.groups = norm_num_groups;
  m.eps = norm_eps;
  m.output_scale_factor = mid_block_scale_factor;
  m.heads = num_attention_heads[last];
  m.transformer_layers = transformer_layers_per_block[last];
  m.cross_attention_dim = cross_attention_dim;
  return m;
}

absl::StatusOr<UNet2DConditionConfig> UNet2DConditionConfig::FromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("UNet config must be a JSON object");
  UNet2DConditionConfig c;
  try {
    RETURN_IF_ERROR(CheckUnsupported(j));
    c.sample_size = j.value("sample_size", c.sample_size);
    c.in_channels = j.value("in_channels", c.in_channels);
    c.out_channels = j.value("out_channels", c.out_channels);
    c.center_input_sample = j.value("center_input_sample", c.center_input_sample);
    c.flip_sin_to_cos = j.value("flip_sin_to_cos", c.flip_sin_to_cos);
    c.freq_shift = j.value("freq_shift", c.freq_shift);
    c.down_block_types = j.value("down_block_types", c.down_block_types);
    c.up_block_types = j.value("up_block_types", c.up_block_types);
    if (j.contains("mid_block_type") && !j.at("mid_block_type").is_null()) {
      c.mid_block_type = j.at("mid_block_type").get<std::string>();
    }
    c.block_out_channels = j.value("block_out_channels", c.block_out_channels);
    const size_t n = c.block_out_channels.size();
    if (j.contains("layers_per_block") && j.at("layers_per_block").is_array()) {
      return absl::UnimplementedError("UNet config: per-block layers_per_block is not supported");
    }
    c.layers_per_block = j.value("layers_per_block", c.layers_per_block);
    c.downsample_padding = j.value("downsample_padding", c.downsample_padding);
    c.mid_block_scale_factor = j.value("mid_block_scale_factor", c.mid_block_scale_factor);
    c.norm_num_groups = j.value("norm_num_groups", c.norm_num_groups);
    c.norm_eps = j.value("norm_eps", c.norm_eps);
    if (j.contains("cross_attention_dim") && j.at("cross_attention_dim").is_array()) {
      return absl::UnimplementedError(
          "UNet config: per-block cross_attention_dim is not supported");
    }
    c.cross_attention_dim = j.value("cross_attention_dim", c.cross_attention_dim);
    c.transformer_layers_per_block = IntOrList(j.value("transformer_layers_per_block", json(1)), n,
                                               "transformer_layers_per_block");
    // diffusers: num_attention_heads = num_attention_heads or attention_head_dim.
    const json heads = j.contains("num_attention_heads") && !j.at("num_attention_heads").is_null()
                           ? j.at("num_attention_heads")
                           : j.value("attention_head_dim", json(8));
    c.num_attention_heads = IntOrList(heads, n, "attention_head_dim");
    c.use_linear_projection = j.value("use_linear_projection", false);
    c.upcast_attention = j.value("upcast_attention", c.upcast_attention);
    if (j.contains("time_embedding_dim") && !j.at("time_embedding_dim").is_null()) {
      c.time_embedding_dim = j.at("time_embedding_dim").get<int64_t>();
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("UNet config: ", e.what()));
  }
  RETURN_IF_ERROR(Validate(c));
  return c;
}

absl::StatusOr<UNet2DConditionConfig> UNet2DConditionConfig::FromJsonFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open UNet config " + path);
  json j = json::parse(in, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("UNet config is not valid JSON: " + path);
  return FromJson(j);
}

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const UNet2DConditionConfig& config)
    : config_(config) {
  const auto& boc = config.block_out_channels;
  const size_t n = boc.size();
  TORCH_CHECK(n > 0 && config.down_block_types.size() == n && config.up_block_types.size() == n &&
                  config.num_attention_heads.size() == n &&
                  config.transformer_layers_per_block.size() == n,
              "UNet2DConditionConfig: inconsistent per-block lists");
  const int64_t temb = config.TimeEmbeddingChannels();

  conv_in_ = register_module("conv_in", LoraCompatibleConv2d(config.in_channels, boc[0], 3, 1, 1));
  // "time_proj" (the sinusoid) sits here in diffusers; it has no weights.
  time_embedding_ = register_module("time_embedding", TimestepEmbedding(boc[0], temb));
  down_blocks_ = register_module("down_blocks", torch::nn::ModuleList());
  // diffusers creates up_blocks before assigning mid_block, so its keys come first.
  up_blocks_ = register_module("up_blocks", torch::nn::ModuleList());

  for (size_t i = 0; i < n; ++i) {
    const DownBlock2DOptions o = config.DownBlockOptions(i);
    DownEntry entry;
    if (config.down_block_types[i] == "CrossAttnDownBlock2D") {
      entry.cross = CrossAttnDownBlock2D(o);
      down_blocks_->push_back(entry.cross);
    } else {
      entry.plain = DownBlock2D(o);
      down_blocks_->push_back(entry.plain);
    }
    down_.push_back(entry);
  }

  const UNetMidBlock2DCrossAttnOptions m = config.MidBlockOptions();

  int64_t output_channel = boc[n - 1];
  for (size_t i = 0; i < n; ++i) {
    const size_t r = n - 1 - i;  // index into the non-reversed per-block lists
    UpBlock2DOptions o;
    o.prev_output_channels = output_channel;
    output_channel = boc[r];
    o.out_channels = output_channel;
    o.in_channels = boc[r == 0 ? 0 : r - 1];
    o.temb_channels = temb;
    o.num_layers = config.layers_per_block + 1;
    o.groups = config.norm_num_groups;
    o.eps = config.norm_eps;
    o.add_upsample = i + 1 < n;
    o.heads = config.num_attention_heads[r];
    o.transformer_layers = config.transformer_layers_per_block[r];
    o.cross_attention_dim = config.cross_attention_dim;
    UpEntry entry;
    if (config.up_block_types[i] == "CrossAttnUpBlock2D") {
      entry.cross = CrossAttnUpBlock2D(o);
      up_blocks_->push_back(entry.cross);
    } else {
      entry.plain = UpBlock2D(o);
      up_blocks_->push_back(entry.plain);
    }
    up_.push_back(entry);
  }

  mid_block_ = register_module("mid_block", UNetMidBlock2DCrossAttn(m));
  conv_norm_out_ = register_module(
      "conv_norm_out",
      torch::nn::GroupNorm(
          torch::nn::GroupNormOptions(config.norm_num_groups, boc[0]).eps(config.norm_eps)));
  // "conv_act" (SiLU) sits here in diffusers; no weights.
  conv_out_ =
      register_module("conv_out", LoraCompatibleConv2d(boc[0], config.out_channels, 3, 1, 1));
}

torch::Tensor UNet2DConditionModelImpl::forward(const torch::Tensor& sample,
                                                const torch::Tensor& timestep,
                                                const torch::Tensor& encoder_hidden_states,
                                                Trace* trace) {
  const int64_t batch = sample.size(0);
  const size_t n = down_.size();

  // Upsamplers must hit the skip sizes exactly when H or W is not a multiple
  // of the overall downsampling factor.
  const int64_t factor = int64_t{1} << (n - 1);
  const bool forward_upsample_size = sample.size(-2) % factor != 0 || sample.size(-1) % factor != 0;

  torch::Tensor t = timestep.to(sample.device()).reshape({-1});
  TORCH_CHECK(t.numel() == 1 || t.numel() == batch, "UNet: timestep has ", t.numel(),
              " entries for a batch of ", batch);
  t = t.expand({batch});
  const torch::Tensor t_proj = TimestepProjection(t, config_.block_out_channels[0],
                                                  config_.flip_sin_to_cos, config_.freq_shift)
                                   .to(sample.scalar_type());
  const torch::Tensor emb = time_embedding_(t_proj);
  if (trace) {
    Record(trace, "t_proj", t_proj);
    Record(trace, "time_emb", emb);
  }

  torch::Tensor h = config_.center_input_sample ? 2 * sample - 1.0 : sample;
  h = conv_in_(h);
  if (trace) Record(trace, "conv_in", h);
  std::vector<torch::Tensor> skips = {h};
  for (size_t i = 0; i < n; ++i) {
    const std::string prefix = trace ? absl::StrCat("d", i) : std::string();
    DownBlockOutput out =
        down_[i].cross ? down_[i].cross->forward(h, emb, encoder_hidden_states, trace, prefix)
                       : down_[i].plain->forward(h, emb, trace, prefix);
    h = out.hidden;
    if (trace) {
      Record(trace, absl::StrCat("down_", i), h);
      for (size_t j = 0; j < out.skips.size(); ++j) {
        Record(trace, absl::StrCat("down_", i, "_skip_", j), out.skips[j]);
      }
    }
    skips.insert(skips.end(), out.skips.begin(), out.skips.end());
  }

  h = mid_block_->forward(h, emb, encoder_hidden_states, trace, trace ? "m" : "");
  if (trace) Record(trace, "mid", h);

  for (size_t i = 0; i < n; ++i) {
    const int64_t count = up_[i].cross ? up_[i].cross->num_resnets() : up_[i].plain->num_resnets();
    TORCH_CHECK(static_cast<int64_t>(skips.size()) >= count, "UNet: skip list exhausted");
    std::vector<torch::Tensor> block_skips(skips.end() - count, skips.end());
    skips.resize(skips.size() - count);
    std::vector<int64_t> upsample_size;
    if (forward_upsample_size && i + 1 < n) {
      upsample_size = {skips.back().size(2), skips.back().size(3)};
    }
    h = up_[i].cross
            ? up_[i].cross->forward(h, block_skips, emb, encoder_hidden_states, upsample_size,
                                    trace, trace ? absl::StrCat("u", i) : std::string())
            : up_[i].plain->forward(h, block_skips, emb, upsample_size);
    if (trace) Record(trace, absl::StrCat("up_", i), h);
  }

  h = GroupNormNchw(conv_norm_out_, h);
  if (trace) Record(trace, "conv_norm_out", h);
  h = conv_out_(torch::silu(h));
  if (trace) Record(trace, "out", h);
  return h;
}

}  // namespace codiff::models
