#include "core/models/one_step_generator.h"

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

Conditioning OneStepGeneratorImpl::Condition(const torch::Tensor& x) {
  if (arch_.refine_restoration) {
    CaVERestoration r = cave_->RestoreAndEncode(x);
    return {proj_->forward(r.tokens), r.qf, r.restored.clamp(0.0, 1.0)};
  }
  CaVEEncoding encoding = cave_->EncodeAll(x);
  return {proj_->forward(encoding.tokens), encoding.qf, x};
}

torch::Tensor OneStepGeneratorImpl::Generate(const torch::Tensor& x, const torch::Tensor& context,
                                             const GenerateOptions& options, Trace* trace) {
  const double scaling = arch_.vae.scaling_factor;
  DiagonalGaussian posterior = vae_->Encode(x * 2.0 - 1.0);
  torch::Tensor latent = options.posterior_seeds.empty()
                             ? posterior.mean()
                             : posterior.SamplePerItem(options.posterior_seeds);
  torch::Tensor z_low = latent * scaling;
  torch::Tensor timestep =
      torch::full({1}, static_cast<double>(arch_.timestep),
                  torch::TensorOptions().dtype(torch::kFloat32).device(x.device()));
  torch::Tensor eps = unet_->forward(z_low, timestep, context);
  torch::Tensor z_high = HighQualityLatent(z_low, eps);
  torch::Tensor out = DecodeImage(z_high, x);
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
