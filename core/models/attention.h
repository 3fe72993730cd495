// diffusers Attention with the classic AttnProcessor maths (baddbmm, softmax,
// bmm), used for the UNet's self/cross attention and the VAE mid block; on a
// GPU, LibTorch's fused scaled_dot_product_attention where it has one.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "core/models/lora_layers.h"

namespace codiff::models {

// Where softmax(q k^T * scale) v runs as one fused kernel
// (at::scaled_dot_product_attention, LibTorch 2.0 on: flash or
// memory-efficient attention on CUDA, no score matrix in memory) instead of
// bmm + softmax + bmm. kAuto fuses on accelerators only, so CPU results stay
// those of the parity-tested bmm path; kAlways and kNever are for tests and
// measurements. Without the fused kernel (Debian's LibTorch 1.13) every
// setting runs bmm.
enum class FusedAttention { kAuto, kAlways, kNever };
bool FusedAttentionAvailable();
void SetFusedAttention(FusedAttention mode);  // process-wide
FusedAttention GetFusedAttention();

struct AttentionOptions {
  int64_t query_dim = 0;
  // Width of the key/value source; 0 means self-attention (= query_dim).
  int64_t cross_attention_dim = 0;
  int64_t heads = 8;
  int64_t dim_head = 64;
  bool qkv_bias = false;
  bool out_bias = true;
  // > 0 adds the VAE-style "group_norm" applied to the input before q/k/v.
  int64_t norm_num_groups = 0;
  double norm_eps = 1e-5;
  bool residual_connection = false;
  double rescale_output_factor = 1.0;
};

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const AttentionOptions& options);
  // hidden: tokens [B, S, C] or a feature map [B, C, H, W] (returned in the
  // same layout). context: [B, K, cross_dim], or undefined for self-attention.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& context = {});

  const AttentionOptions& options() const { return options_; }

 private:
  // softmax(q k^T * scale) v over [heads, S, d] tensors.
  torch::Tensor ScaledDotProduct(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v) const;
  // Score blocks above this size are computed in row blocks (see .cc).
  static constexpr int64_t kMaxScoreBytes = int64_t{128} << 20;
  torch::Tensor SplitHeads(const torch::Tensor& x) const;
  torch::Tensor MergeHeads(const torch::Tensor& x) const;

  AttentionOptions options_;
  double scale_;
  torch::nn::GroupNorm group_norm_{nullptr};
  LoraCompatibleLinear to_q_{nullptr};
  LoraCompatibleLinear to_k_{nullptr};
  LoraCompatibleLinear to_v_{nullptr};
  torch::nn::ModuleList to_out_{nullptr};
  LoraCompatibleLinear to_out_0_{nullptr};
};
TORCH_MODULE(Attention);

}  // namespace codiff::models
