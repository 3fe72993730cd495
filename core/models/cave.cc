#include "core/models/cave.h"

#include <initializer_list>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace codiff::models {
namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// Total downsampling of the encoder (2 * 4 * 4): the smallest input that
// still yields one token, and the size multiple the decoder's skips need.
constexpr int64_t kEncoderStride = 32;

absl::StatusOr<int64_t> PositiveInt(const nlohmann::json& json, const char* key) {
  if (!json.contains(key)) return absl::InvalidArgumentError(absl::StrCat("missing '", key, "'"));
  const nlohmann::json& v = json.at(key);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", key, "' must be a positive integer"));
  }
  return v.get<int64_t>();
}

absl::Status ExpectStringIfPresent(const nlohmann::json& json, const char* key,
                                   const char* supported) {
  if (!json.contains(key)) return absl::OkStatus();
  const nlohmann::json& v = json.at(key);
  if (!v.is_string() || v.get<std::string>() != supported) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", key, "' = ", v.dump(), " is not supported (only \"", supported, "\")"));
  }
  return absl::OkStatus();
}

std::vector<CaVEResidualBlock> AppendBlocks(nn::Sequential& seq, int64_t count, int64_t channels,
                                            double eps) {
  std::vector<CaVEResidualBlock> blocks;
  for (int64_t i = 0; i < count; ++i) {
    blocks.emplace_back(channels, eps);
    seq->push_back(blocks.back());
  }
  return blocks;
}

torch::Tensor RunBlocks(std::vector<CaVEResidualBlock>& blocks, torch::Tensor x) {
  for (auto& block : blocks) x = block->forward(x);
  return x;
}

}  // namespace

CaVEConfig CaVEConfig::Reference() { return CaVEConfig{}; }

absl::StatusOr<CaVEConfig> CaVEConfig::FromJson(const nlohmann::json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("CaVE config must be a JSON object");
  CaVEConfig config;
  using IntField = std::pair<const char*, int64_t*>;
  for (const auto& [key, field] :
       std::initializer_list<IntField>{{"in_nc", &config.in_channels},
                                       {"out_nc", &config.out_channels},
                                       {"nb", &config.blocks_per_stage}}) {
    auto value = PositiveInt(json, key);
    if (!value.ok()) return value.status();
    *field = *value;
  }
  if (!json.contains("nc") || !json.at("nc").is_array() || json.at("nc").size() != 4) {
    return absl::InvalidArgumentError("'nc' must be an array of 4 channel widths");
  }
  config.widths.clear();
  for (const auto& w : json.at("nc")) {
    if (!w.is_number_integer() || w.get<int64_t>() <= 0) {
      return absl::InvalidArgumentError("'nc' entries must be positive integers");
    }
    config.widths.push_back(w.get<int64_t>());
  }
  using ModeField = std::pair<const char*, const char*>;
  for (const auto& [key, supported] :
       std::initializer_list<ModeField>{{"act_mode", "BR"},
                                        {"downsample_mode", "strideconv"},
                                        {"upsample_mode", "convtranspose"}}) {
    absl::Status status = ExpectStringIfPresent(json, key, supported);
    if (!status.ok()) return status;
  }
  return config;
}

CaVEImpl::CaVEImpl(const CaVEConfig& config) : config_(config) {
  TORCH_CHECK(config_.widths.size() == 4, "CaVE needs 4 channel widths, got ",
              config_.widths.size());
  TORCH_CHECK(config_.padding_multiple > 0, "CaVE padding_multiple must be positive");
  const auto& nc = config_.widths;
  const int64_t nb = config_.blocks_per_stage;
  const double eps = config_.batch_norm_eps;

  // Registration order is the reference's attribute order, which fixes the
  // state-dict order (qf_pred last, after the decoder).
  m_head_ = register_module(
      "m_head", nn::Conv2d(nn::Conv2dOptions(config_.in_channels, nc[0], 3).padding(1)));

  auto make_down = [&](int64_t c_in, int64_t c_out, int64_t stride,
                       std::vector<CaVEResidualBlock>* blocks, nn::Conv2d* conv) {
    nn::Sequential seq;
    *blocks = AppendBlocks(seq, nb, c_in, eps);
    *conv = nn::Conv2d(nn::Conv2dOptions(c_in, c_out, stride).stride(stride).padding(0));
    seq->push_back(*conv);
    return seq;
  };
  m_down1_ = register_module("m_down1", make_down(nc[0], nc[1], 2, &down1_blocks_, &down1_conv_));
  m_down2_ = register_module("m_down2", make_down(nc[1], nc[2], 4, &down2_blocks_, &down2_conv_));
  m_down3_ = register_module("m_down3", make_down(nc[2], nc[3], 4, &down3_blocks_, &down3_conv_));

  m_body_encoder_ = register_module("m_body_encoder", nn::Sequential());
  body_encoder_blocks_ = AppendBlocks(m_body_encoder_, nb, nc[3], eps);
  m_body_decoder_ = register_module("m_body_decoder", nn::Sequential());
  body_decoder_blocks_ = AppendBlocks(m_body_decoder_, nb, nc[3], eps);

  auto make_up = [&](int64_t c_in, int64_t c_out, int64_t stride, nn::ConvTranspose2d* convt,
                     std::vector<CaVEResidualBlock>* blocks) {
    nn::Sequential seq;
    *convt = nn::ConvTranspose2d(
        nn::ConvTranspose2dOptions(c_in, c_out, stride).stride(stride).padding(0));
    seq->push_back(*convt);
    *blocks = AppendBlocks(seq, nb, c_out, eps);
    return seq;
  };
  m_up3_ = register_module("m_up3", make_up(nc[3], nc[2], 4, &up3_convt_, &up3_blocks_));
  m_up2_ = register_module("m_up2", make_up(nc[2], nc[1], 4, &up2_convt_, &up2_blocks_));
  m_up1_ = register_module("m_up1", make_up(nc[1], nc[0], 2, &up1_convt_, &up1_blocks_));

  m_tail_ = register_module(
      "m_tail", nn::Conv2d(nn::Conv2dOptions(nc[0], config_.out_channels, 3).padding(1)));
  if (config_.global_residual) {
    // A residual restorer starts as the identity: a random tail would first
    // have to be unlearned (measured: it costs hundreds of steps on CPU).
    torch::NoGradGuard no_grad;
    m_tail_->weight.zero_();
    m_tail_->bias.zero_();
  }

  qf_pred_ = register_module("qf_pred", nn::Sequential());
  qf_blocks_ = AppendBlocks(qf_pred_, nb, nc[3], eps);
  qf_fc1_ = nn::Linear(nc[3], nc[3]);
  qf_fc2_ = nn::Linear(nc[3], nc[3]);
  qf_fc3_ = nn::Linear(nc[3], 1);
  // The Sequential only fixes the state-dict layout (the Linear layers at the
  // reference indices 6, 8 and 10); QfHead / QfLogit compute the head, so
  // the parameter-free slots (pool, flatten, activations, sigmoid) hold
  // placeholders and the activation is defined once, in QfLogit.
  auto placeholder = [&] { qf_pred_->push_back(nn::Identity()); };
  placeholder();  // adaptive average pool
  placeholder();  // flatten
  qf_pred_->push_back(qf_fc1_);
  placeholder();  // activation
  qf_pred_->push_back(qf_fc2_);
  placeholder();  // activation
  qf_pred_->push_back(qf_fc3_);
  placeholder();  // sigmoid

  if (config_.qf_conditioning) {
    constexpr int64_t kEmbedding = 64;
    nn::Sequential embed;
    qf_embed_fc1_ = nn::Linear(1, kEmbedding);
    qf_embed_fc2_ = nn::Linear(kEmbedding, kEmbedding);
    film_up3_ = nn::Linear(kEmbedding, 2 * nc[2]);
    film_up2_ = nn::Linear(kEmbedding, 2 * nc[1]);
    film_up1_ = nn::Linear(kEmbedding, 2 * nc[0]);
    torch::NoGradGuard no_grad;
    for (nn::Linear* film : {&film_up3_, &film_up2_, &film_up1_}) {
      (*film)->weight.zero_();
      (*film)->bias.zero_();
    }
    embed->push_back(qf_embed_fc1_);
    embed->push_back(qf_embed_fc2_);
    embed->push_back(film_up3_);
    embed->push_back(film_up2_);
    embed->push_back(film_up1_);
    register_module("qf_embed", embed);
  }
}

void CaVEImpl::CheckInput(const torch::Tensor& x) const {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == config_.in_channels, "CaVE expects [B, ",
              config_.in_channels, ", H, W] input, got ", x.sizes());
}

torch::Tensor CaVEImpl::PadToMultiple(const torch::Tensor& x) const {
  return PadToMultiple(x, config_.padding_multiple);
}

torch::Tensor CaVEImpl::PadToMultiple(const torch::Tensor& x, int64_t m) const {
  const int64_t pad_bottom = (m - x.size(2) % m) % m;
  const int64_t pad_right = (m - x.size(3) % m) % m;
  TORCH_CHECK(x.size(2) + pad_bottom >= kEncoderStride && x.size(3) + pad_right >= kEncoderStride,
              "CaVE needs an input of at least ", kEncoderStride, "x", kEncoderStride,
              " (after padding) to produce a token, got ", x.size(2), "x", x.size(3));
  if (pad_bottom == 0 && pad_right == 0) return x;
  return F::pad(x, F::PadFuncOptions({0, pad_right, 0, pad_bottom}).mode(torch::kReplicate));
}

CaVEImpl::EncoderFeatures CaVEImpl::Encode(const torch::Tensor& x, Trace* trace) {
  EncoderFeatures f;
  f.x1 = m_head_->forward(x);
  f.x2 = down1_conv_->forward(RunBlocks(down1_blocks_, f.x1));
  f.x3 = down2_conv_->forward(RunBlocks(down2_blocks_, f.x2));
  f.x4 = down3_conv_->forward(RunBlocks(down3_blocks_, f.x3));
  f.body = RunBlocks(body_encoder_blocks_, f.x4);
  if (trace != nullptr) {
    (*trace)["head"] = f.x1;
    (*trace)["down1"] = f.x2;
    (*trace)["down2"] = f.x3;
    (*trace)["down3"] = f.x4;
    (*trace)["body_enc"] = f.body;
  }
  return f;
}

torch::Tensor CaVEImpl::QfHead(const torch::Tensor& body, Trace* trace) {
  torch::Tensor h = RunBlocks(qf_blocks_, body);
  torch::Tensor pooled = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions(1)).flatten(1);
  torch::Tensor logit = QfLogit(pooled);
  if (trace != nullptr) {
    (*trace)["qf_pooled"] = pooled;
    (*trace)["qf_logit"] = logit;
  }
  return torch::sigmoid(logit);
}

torch::Tensor CaVEImpl::QfLogit(const torch::Tensor& pooled) {
  const double slope = config_.qf_head_negative_slope;
  auto act = [slope](const torch::Tensor& t) {
    return slope > 0 ? torch::leaky_relu(t, slope) : torch::relu(t);
  };
  return qf_fc3_->forward(act(qf_fc2_->forward(act(qf_fc1_->forward(pooled)))));
}

torch::Tensor CaVEImpl::Tokens(const torch::Tensor& body) {
  // [B, C, H', W'] -> [B, H'*W', C], token index y * W' + x.
  return body.flatten(2).transpose(1, 2).contiguous();
}

torch::Tensor CaVEImpl::VisualEmbedding(const torch::Tensor& x) {
  CheckInput(x);
  return Tokens(Encode(PadToMultiple(x), nullptr).body);
}

torch::Tensor CaVEImpl::PredictQf(const torch::Tensor& x) {
  CheckInput(x);
  return QfHead(Encode(PadToMultiple(x), nullptr).body, nullptr);
}

CaVEEncoding CaVEImpl::EncodeAll(const torch::Tensor& x) {
  CheckInput(x);
  const torch::Tensor body = Encode(PadToMultiple(x), nullptr).body;
  return CaVEEncoding{Tokens(body), QfHead(body, nullptr)};
}

std::pair<torch::Tensor, torch::Tensor> CaVEImpl::forward(const torch::Tensor& x, Trace* trace,
                                                          const torch::Tensor& quality) {
  CheckInput(x);
  TORCH_CHECK(x.size(2) % kEncoderStride == 0 && x.size(3) % kEncoderStride == 0 && x.size(2) > 0 &&
                  x.size(3) > 0,
              "CaVE forward needs H and W to be positive multiples of ", kEncoderStride,
              " (the decoder's skip connections must match the encoder's sizes), got ", x.size(2),
              "x", x.size(3), "; pad the input first");
  const EncoderFeatures f = Encode(x, trace);
  const torch::Tensor qf = QfHead(f.body, trace);
  return {Restore(x, f, quality.defined() ? quality : qf.detach(), trace), qf};
}

CaVERestoration CaVEImpl::RestoreAndEncode(const torch::Tensor& x, const torch::Tensor& quality) {
  CheckInput(x);
  // The decoder's skips need exact sizes: pad to the encoder's full stride.
  const torch::Tensor padded = PadToMultiple(x, kEncoderStride);
  const EncoderFeatures f = Encode(padded, nullptr);
  torch::Tensor qf = QfHead(f.body, nullptr);
  torch::Tensor restored = Restore(padded, f, quality.defined() ? quality : qf, nullptr);
  restored = restored.narrow(2, 0, x.size(2)).narrow(3, 0, x.size(3));
  return {restored, Tokens(f.body), qf};
}

torch::Tensor CaVEImpl::QualityEmbedding(const torch::Tensor& quality, int64_t batch) {
  if (!config_.qf_conditioning) return {};
  TORCH_CHECK(quality.defined() && quality.numel() > 0, "CaVE: no quality to condition on");
  torch::Tensor q = quality.reshape({-1, 1}).to(qf_embed_fc1_->weight.dtype());
  TORCH_CHECK(q.size(0) == batch || q.size(0) == 1, "CaVE: ", q.size(0),
              " quality values for a batch of ", batch);
  if (q.size(0) != batch) q = q.expand({batch, 1});
  q = q.to(qf_embed_fc1_->weight.device());
  return torch::relu(qf_embed_fc2_->forward(torch::relu(qf_embed_fc1_->forward(q))));
}

torch::Tensor CaVEImpl::Modulate(const torch::Tensor& h, torch::nn::Linear& film,
                                 const torch::Tensor& embedding) {
  if (!embedding.defined()) return h;
  const torch::Tensor gb = film->forward(embedding).unsqueeze(-1).unsqueeze(-1);
  const auto halves = gb.chunk(2, 1);
  return h * (1.0 + halves[0]) + halves[1];
}

torch::Tensor CaVEImpl::Restore(const torch::Tensor& x, const EncoderFeatures& f,
                                const torch::Tensor& quality, Trace* trace) {
  // See CaVEConfig::restoration_plus_one for why the up-path adds 1 per block.
  const double beta = config_.restoration_plus_one ? 1.0 : 0.0;
  auto up_blocks = [&](std::vector<CaVEResidualBlock>& blocks, torch::Tensor h,
                       const char* first_name) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      h = blocks[i]->ForwardWithBeta(h, beta);
      if (trace != nullptr && i == 0 && first_name != nullptr) (*trace)[first_name] = h;
    }
    return h;
  };

  const torch::Tensor embedding = QualityEmbedding(quality, x.size(0));
  torch::Tensor h = RunBlocks(body_decoder_blocks_, f.body);
  if (trace != nullptr) (*trace)["body_dec"] = h;
  h = Modulate(up3_convt_->forward(h + f.x4), film_up3_, embedding);
  if (trace != nullptr) (*trace)["up3_convT"] = h;
  h = up_blocks(up3_blocks_, h, nullptr);
  if (trace != nullptr) (*trace)["up3"] = h;
  h = Modulate(up2_convt_->forward(h + f.x3), film_up2_, embedding);
  if (trace != nullptr) (*trace)["up2_convT"] = h;
  h = up_blocks(up2_blocks_, h, nullptr);
  if (trace != nullptr) (*trace)["up2"] = h;
  h = Modulate(up1_convt_->forward(h + f.x2), film_up1_, embedding);
  h = up_blocks(up1_blocks_, h, "up1_qfatt_0");
  if (trace != nullptr) (*trace)["up1"] = h;
  torch::Tensor restored = m_tail_->forward(h + f.x1);
  if (config_.global_residual) restored = restored + x;
  return restored;
}

void CaVEImpl::FoldBatchNorm() {
  for (auto* blocks :
       {&down1_blocks_, &down2_blocks_, &down3_blocks_, &body_encoder_blocks_,
        &body_decoder_blocks_, &up3_blocks_, &up2_blocks_, &up1_blocks_, &qf_blocks_}) {
    for (auto& block : *blocks) block->FoldBatchNorm();
  }
}

torch::Tensor CaVEImpl::QualityFactorFromOutput(const torch::Tensor& qf_output) {
  return 100.0 * (1.0 - qf_output);
}

}  // namespace codiff::models
