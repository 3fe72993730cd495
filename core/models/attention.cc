#include "core/models/attention.h"

#include <atomic>
#include <cmath>

#include <torch/torch.h>
#include <torch/version.h>

#include "core/models/group_norm.h"

namespace codiff::models {
namespace {

#if TORCH_VERSION_MAJOR >= 2
constexpr bool kHasFusedAttention = true;
#else
constexpr bool kHasFusedAttention = false;
#endif

std::atomic<FusedAttention> fused_attention{FusedAttention::kAuto};

// q, k, v: [B * heads, S, d]. The fused kernels want [B, heads, S, d]; the
// default scale of 2.0 (no scale argument) is 1 / sqrt(d), diffusers' too.
torch::Tensor FusedScaledDotProduct(const torch::Tensor& q, const torch::Tensor& k,
                                    const torch::Tensor& v, int64_t heads, double scale) {
#if TORCH_VERSION_MAJOR >= 2
  const auto four_d = [heads](const torch::Tensor& t) {
    return t.reshape({t.size(0) / heads, heads, t.size(1), t.size(2)});
  };
  const double default_scale = 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  const torch::Tensor qs =
      std::abs(scale - default_scale) > 1e-12 ? q * (scale / default_scale) : q;
  const torch::Tensor out = at::scaled_dot_product_attention(four_d(qs), four_d(k), four_d(v));
  return out.reshape({q.size(0), q.size(1), v.size(2)});
#else
  (void)k;
  (void)v;
  (void)heads;
  (void)scale;
  TORCH_CHECK(false, "this LibTorch has no scaled_dot_product_attention");
  return q;
#endif
}

}  // namespace

bool FusedAttentionAvailable() { return kHasFusedAttention; }
void SetFusedAttention(FusedAttention mode) { fused_attention.store(mode); }
FusedAttention GetFusedAttention() { return fused_attention.load(); }

AttentionImpl::AttentionImpl(const AttentionOptions& options)
    : options_(options), scale_(1.0 / std::sqrt(static_cast<double>(options.dim_head))) {
  const int64_t inner = options.heads * options.dim_head;
  const int64_t kv_dim =
      options.cross_attention_dim > 0 ? options.cross_attention_dim : options.query_dim;
  if (options.norm_num_groups > 0) {
    group_norm_ = register_module(
        "group_norm",
        torch::nn::GroupNorm(torch::nn::GroupNormOptions(options.norm_num_groups, options.query_dim)
                                 .eps(options.norm_eps)));
  }
  to_q_ = register_module("to_q", LoraCompatibleLinear(options.query_dim, inner, options.qkv_bias));
  to_k_ = register_module("to_k", LoraCompatibleLinear(kv_dim, inner, options.qkv_bias));
  to_v_ = register_module("to_v", LoraCompatibleLinear(kv_dim, inner, options.qkv_bias));
  to_out_ = register_module("to_out", torch::nn::ModuleList());
  to_out_0_ = LoraCompatibleLinear(inner, options.query_dim, options.out_bias);
  to_out_->push_back(to_out_0_);
  // to_out.1 is Dropout in diffusers (p = 0 at inference); no weights, so it
  // is left out and the keys stay to_out.0.*.
}

torch::Tensor AttentionImpl::SplitHeads(const torch::Tensor& x) const {
  const int64_t b = x.size(0);
  const int64_t s = x.size(1);
  return x.reshape({b, s, options_.heads, options_.dim_head})
      .permute({0, 2, 1, 3})
      .reshape({b * options_.heads, s, options_.dim_head});
}

torch::Tensor AttentionImpl::MergeHeads(const torch::Tensor& x) const {
  const int64_t b = x.size(0) / options_.heads;
  const int64_t s = x.size(1);
  return x.reshape({b, options_.heads, s, options_.dim_head})
      .permute({0, 2, 1, 3})
      .reshape({b, s, options_.heads * options_.dim_head});
}

torch::Tensor AttentionImpl::ScaledDotProduct(const torch::Tensor& q, const torch::Tensor& k,
                                              const torch::Tensor& v) const {
  // diffusers calls baddbmm(empty, q, k^T, beta=0, alpha=scale). LibTorch 1.13's
  // CPU baddbmm lets NaNs from the uninitialised input through for some
  // shapes despite beta = 0, so scale after a plain bmm (same product).
  const FusedAttention fused = GetFusedAttention();
  if (kHasFusedAttention &&
      (fused == FusedAttention::kAlways || (fused == FusedAttention::kAuto && !q.is_cpu()))) {
    return FusedScaledDotProduct(q, k, v, options_.heads, scale_);
  }
  const int64_t heads = q.size(0), queries = q.size(1), keys = k.size(1);
  const int64_t row_bytes = keys * static_cast<int64_t>(q.element_size());
  if (!q.is_cpu() || heads * queries * row_bytes <= kMaxScoreBytes ||
      torch::GradMode::is_enabled()) {
    const torch::Tensor scores = torch::bmm(q, k.transpose(-1, -2)).mul_(scale_);
    return torch::bmm(scores.softmax(-1).to(q.scalar_type()), v);
  }
  // Large self-attention (an SD latent of 96 x 96 has 9216 positions: 1.7 GB
  // of scores for 5 heads, twice that with the softmax's output): one head
  // and a block of query rows at a time, which bounds that memory. q is
  // scaled first (exact for SD's 64-wide heads: scale 1/8). Speed is the same
  // as one big product (measured on 2 cores, 768 x 768 sd21: UNet 12.5-15.7 s
  // unblocked, 13.6-13.7 s in 128 MB blocks); blocks of 8 MB or less, small
  // enough for the cache, were slower (20.6 s): the products get too thin.
  torch::Tensor out = torch::empty({heads, queries, v.size(2)}, q.options());
  const torch::Tensor qs = q * scale_;
  const int64_t rows = std::max<int64_t>(1, kMaxScoreBytes / row_bytes);
  for (int64_t h = 0; h < heads; ++h) {
    const torch::Tensor kt = k[h].transpose(0, 1);
    const torch::Tensor vh = v[h];
    for (int64_t begin = 0; begin < queries; begin += rows) {
      const int64_t end = std::min(queries, begin + rows);
      torch::Tensor scores = torch::mm(qs[h].slice(0, begin, end), kt);
      scores = scores.softmax(-1);
      torch::Tensor block = out[h].slice(0, begin, end);
      torch::mm_out(block, scores, vh);
    }
  }
  return out;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& context) {
  const torch::Tensor residual = hidden;
  const bool spatial = hidden.dim() == 4;
  torch::Tensor x = hidden;
  // GroupNorm normalises over [B, C, ...] whatever the layout (computed on
  // NCHW memory, see group_norm.h).
  if (group_norm_) x = GroupNormNchw(group_norm_, x);
  int64_t b = 0, c = 0, h = 0, w = 0;
  if (spatial) {
    b = x.size(0);
    c = x.size(1);
    h = x.size(2);
    w = x.size(3);
    x = x.reshape({b, c, h * w}).transpose(1, 2);
  }
  const torch::Tensor& kv_source = context.defined() ? context : x;
  const torch::Tensor q = SplitHeads(to_q_(x));
  const torch::Tensor k = SplitHeads(to_k_(kv_source));
  const torch::Tensor v = SplitHeads(to_v_(kv_source));
  torch::Tensor out = to_out_0_(MergeHeads(ScaledDotProduct(q, k, v)));
  if (spatial) out = out.transpose(-1, -2).reshape({b, c, h, w});
  if (options_.residual_connection) out = out + residual;
  if (options_.rescale_output_factor != 1.0) out = out / options_.rescale_output_factor;
  return out;
}

}  // namespace codiff::models
