#include "core/models/one_step_generator.h"

#include <atomic>

#include <torch/cuda.h>

#include <chrono>

#include <torch/torch.h>

namespace codiff::models {

OneStepGeneratorImpl::OneStepGeneratorImpl(const ModelArchitecture& arch)
    : arch_(arch), schedule_(arch.schedule) {
  cave_ = register_module("cave", CaVE(arch.cave));
  proj_ = register_module("proj", torch::nn::Linear(arch.projection_in(), arch.projection_out()));
  unet_ = register_module("unet", UNet2DConditionModel(arch.unet));
  vae_ = register_module("vae", AutoencoderKL(arch.vae));
  if (arch.residual_output) {
    // The untrained residual generator is the identity (see residual_output).
    torch::NoGradGuard no_grad;
    for (auto& p : vae_->named_parameters()) {
      if (p.key().rfind("decoder.conv_out.", 0) == 0) p.value().zero_();
    }
  }
  if (arch.latent_residual) {
    torch::NoGradGuard no_grad;
    for (auto& p : unet_->named_parameters()) {
      if (p.key().rfind("conv_out.", 0) == 0) p.value().zero_();
    }
  }
}

namespace {

// CUDA kernels run after their launch returns; a stage's time is its work
// only if the device has finished the previous stage and this one.
bool HasCuda() {
  static const bool cuda = torch::cuda::is_available();
  return cuda;
}

void WaitForCuda() {
  if (HasCuda()) torch::cuda::synchronize();
}

std::atomic<bool> stage_timing_on_cuda{false};

}  // namespace

void SetStageTimingOnCuda(bool enabled) { stage_timing_on_cuda.store(enabled); }
bool StageTimingOnCuda() { return stage_timing_on_cuda.load(); }

StageTimer::StageTimer(double* slot) : slot_(slot) {
  if (slot_ != nullptr && HasCuda() && !StageTimingOnCuda()) slot_ = nullptr;
  if (slot_ != nullptr) WaitForCuda();
  start_ = std::chrono::steady_clock::now();
}

StageTimer::~StageTimer() {
  if (slot_ != nullptr) {
    WaitForCuda();
    *slot_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
}

namespace {

double* Slot(StageSeconds* seconds, double StageSeconds::*member) {
  return seconds == nullptr ? nullptr : &(seconds->*member);
}

}  // namespace

StageSeconds& StageSeconds::operator+=(const StageSeconds& other) {
  cave += other.cave;
  projection += other.projection;
  vae_encode += other.vae_encode;
  unet += other.unet;
  vae_decode += other.vae_decode;
  color_fix += other.color_fix;
  jpeg_projection += other.jpeg_projection;
  cave_passes += other.cave_passes;
  return *this;
}

torch::Tensor OneStepGeneratorImpl::HighQualityLatent(const torch::Tensor& z_low,
                                                      const torch::Tensor& unet_out) const {
  if (arch_.latent_residual) return z_low + unet_out;
  return schedule_.PredictOriginal(z_low, unet_out, arch_.timestep);
}

torch::Tensor OneStepGeneratorImpl::DecodeImage(const torch::Tensor& z_high,
                                                const torch::Tensor& x) {
  torch::Tensor out = vae_->Decode(z_high / arch_.vae.scaling_factor);
  if (arch_.residual_output) out = out + (x * 2.0 - 1.0);
  return out.clamp(-1.0, 1.0);
}

Conditioning OneStepGeneratorImpl::Condition(const torch::Tensor& x, StageSeconds* seconds) {
  torch::Tensor tokens, qf, image = x;
  {
    StageTimer timer(Slot(seconds, &StageSeconds::cave));
    if (arch_.refine_restoration) {
      CaVERestoration r = cave_->RestoreAndEncode(x);
      tokens = r.tokens;
      qf = r.qf;
      image = r.restored.clamp(0.0, 1.0);
    } else {
      CaVEEncoding encoding = cave_->EncodeAll(x);
      tokens = encoding.tokens;
      qf = encoding.qf;
    }
  }
  if (seconds != nullptr) ++seconds->cave_passes;
  StageTimer timer(Slot(seconds, &StageSeconds::projection));
  return {tokens, proj_->forward(tokens), qf, image};
}

torch::Tensor OneStepGeneratorImpl::EncodeLatent(const torch::Tensor& x,
                                                 const GenerateOptions& options) {
  DiagonalGaussian posterior = vae_->Encode(x * 2.0 - 1.0);
  torch::Tensor latent = options.posterior_seeds.empty()
                             ? posterior.mean()
                             : posterior.SamplePerItem(options.posterior_seeds);
  return latent * arch_.vae.scaling_factor;
}

torch::Tensor OneStepGeneratorImpl::PredictNoise(const torch::Tensor& z_low,
                                                 const torch::Tensor& context) {
  torch::Tensor timestep =
      torch::full({1}, static_cast<double>(arch_.timestep),
                  torch::TensorOptions().dtype(torch::kFloat32).device(z_low.device()));
  return unet_->forward(z_low, timestep, context);
}

torch::Tensor OneStepGeneratorImpl::Generate(const torch::Tensor& x, const torch::Tensor& context,
                                             const GenerateOptions& options, Trace* trace,
                                             StageSeconds* seconds) {
  torch::Tensor z_low, eps, out;
  {
    StageTimer timer(Slot(seconds, &StageSeconds::vae_encode));
    z_low = EncodeLatent(x, options);
  }
  {
    StageTimer timer(Slot(seconds, &StageSeconds::unet));
    eps = PredictNoise(z_low, context);
  }
  torch::Tensor z_high = HighQualityLatent(z_low, eps);
  {
    StageTimer timer(Slot(seconds, &StageSeconds::vae_decode));
    out = DecodeImage(z_high, x);
  }
  if (trace != nullptr) {
    (*trace)["z_L"] = z_low;
    (*trace)["eps"] = eps;
    (*trace)["z_H"] = z_high;
    (*trace)["out"] = out;
  }
  return out;
}

torch::Tensor OneStepGeneratorImpl::forward(const torch::Tensor& x, const GenerateOptions& options,
                                            Trace* trace) {
  Conditioning conditioning = Condition(x);
  if (trace != nullptr) (*trace)["ctx"] = conditioning.context;
  return Generate(conditioning.image, conditioning.context, options, trace);
}

}  // namespace codiff::models
