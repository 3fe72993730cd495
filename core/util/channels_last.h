// oneDNN's CPU convolutions run fastest on channels-last (NHWC) tensors; the
// server and the trainers both switch a model's conv weights to that layout.
#pragma once

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace codiff {

// Makes every 4-D parameter of `module` (conv weights) channels-last in place.
// Values and parameter identity are unchanged (optimizers keep working);
// saved weights come out contiguous because the writers call .contiguous().
void MakeConvWeightsChannelsLast(torch::nn::Module& module);

}  // namespace codiff
