#include "training/stage2_step.h"

#include <torch/torch.h>

#include "training/losses.h"

namespace codiff::training {
namespace {

std::vector<torch::Tensor> Values(const NamedTensors& named) {
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : named) out.push_back(t);
  return out;
}

}  // namespace

void SetStage2TrainModes(Stage2Model& model) {
  model.generator->train();
  model.generator->cave()->eval();
  model.discriminator->train();
}

std::map<std::string, double> Stage2Step(Stage2Model& model, torch::optim::Optimizer& gen_opt,
                                         torch::optim::Optimizer& disc_opt, const Batch& batch,
                                         const Stage2Options& o) {
  models::OneStepGeneratorImpl& g = *model.generator;
  models::LatentDiscriminatorImpl& disc = *model.discriminator;
  const torch::Tensor hq_pm = batch.hq * 2.0 - 1.0;

  // Generator step.
  models::Trace trace;
  const models::Conditioning cond = g.Condition(batch.lq);
  const torch::Tensor out = g.Generate(cond.image, cond.context, {}, &trace);
  const torch::Tensor z_hat = trace.at("z_H");
  const torch::Tensor mse = torch::mse_loss(out, hq_pm);
  const torch::Tensor perceptual = SsimLoss((out + 1.0) / 2.0, batch.hq);
  // The reference computes this term with the discriminator backbone under
  // no_grad, which cuts the GAN gradient before it reaches z_hat; here it
  // flows through the whole discriminator into the generator.
  // Skipped while its weight is 0 (before gan_start_step): a discriminator
  // pass is a third of the step's time.
  const torch::Tensor gan =
      o.gan_weight > 0 ? GeneratorGanLoss(disc.forward(z_hat)) : torch::zeros({}, z_hat.options());
  const torch::Tensor total =
      o.mse_weight * mse + o.perceptual_weight * perceptual + o.gan_weight * gan;
  gen_opt.zero_grad();
  total.backward();
  if (o.grad_clip > 0)
    torch::nn::utils::clip_grad_norm_(Values(model.generator_trainable), o.grad_clip);
  gen_opt.step();

  // Discriminator step: real = the VAE latent of HQ, fake = z_hat.
  torch::Tensor z_real;
  {
    torch::NoGradGuard no_grad;
    z_real = g.vae()->Encode(hq_pm).mean() * g.architecture().vae.scaling_factor;
  }
  disc_opt.zero_grad();  // drops what the generator's pass left in D's grads
  const torch::Tensor d_loss =
      o.disc_weight * DiscriminatorLoss(disc.forward(z_real), disc.forward(z_hat.detach()));
  d_loss.backward();
  if (o.grad_clip > 0) {
    torch::nn::utils::clip_grad_norm_(Values(model.discriminator_trainable), o.grad_clip);
  }
  disc_opt.step();
  return {{"loss", total.item<double>()},
          {"mse", mse.item<double>()},
          {"perceptual", perceptual.item<double>()},
          {"gan_g", gan.item<double>()},
          {"gan_d", d_loss.item<double>()}};
}

}  // namespace codiff::training
