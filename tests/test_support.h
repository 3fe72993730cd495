// Helpers shared by every test binary.
#pragma once

#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "core/weights/tensor_io.h"

namespace codiff::testing {

// Absolute path of a file under tests/testdata.
std::string TestdataPath(const std::string& relative);

// Reads a safetensors file under tests/testdata; fails the test if it cannot.
TensorMap LoadTestTensors(const std::string& relative);

// Max |a - b| over all elements (float64 accumulation); shapes must match.
double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b);

// Fresh empty directory under the test's temporary area ($TMPDIR, else
// /tmp), removed with its contents when the test process exits (kept when
// CODIFF_KEEP_TEST_DIRS=1).
std::string MakeTempDir(const std::string& tag);

// Where the model parity tests run: CODIFF_TEST_DEVICE (default "cpu") and
// CODIFF_TEST_DTYPE (default "float32"), set by scripts/device-check.sh on a
// GPU machine.
torch::Device TestDevice();
torch::ScalarType TestDtype();
// A parity tolerance for the test dtype: `fp32` itself in float32; in
// float16 / bfloat16 at least 2e-2 (a 10- or 7-bit mantissa rounds every
// layer's output at ~1e-3 relative, and the errors add up over the ~100
// layers of the UNet and VAE).
double Tolerance(double fp32);
// What EXPECT_TENSOR_NEAR holds a comparison to: `tol` in float32; in half
// precision also at least 10% of the expected tensor's largest magnitude.
// Half precision is a smoke check: on an H200 the fp16 VAE output moved by
// 2% of its range and the whole pipeline's by 8%, while a broken kernel or
// layout moves it by its whole range. Exactness is checked in float32 on
// the same device.
double ScaledTolerance(double tol, const torch::Tensor& expected);
// The tensors moved to the test device; floating ones also cast to the test
// dtype (integer tensors, e.g. timesteps, keep theirs).
TensorMap OnTestDevice(TensorMap tensors);
// Moves a model's parameters and buffers to the test device and dtype.
void MoveToTestDevice(torch::nn::Module& module);

}  // namespace codiff::testing

// Asserts that two tensors agree within `tol` and prints the measured
// difference, so parity margins are visible in every test log.
#define EXPECT_TENSOR_NEAR(name, actual, expected, tol)                                        \
  do {                                                                                         \
    const torch::Tensor codiff_a_ = (actual);                                                  \
    const torch::Tensor codiff_e_ = (expected);                                                \
    ASSERT_EQ(codiff_a_.sizes(), codiff_e_.sizes()) << name;                                   \
    const double codiff_d_ = ::codiff::testing::MaxAbsDiff(codiff_a_, codiff_e_);              \
    const double codiff_t_ = ::codiff::testing::ScaledTolerance((tol), codiff_e_);             \
    std::printf("[ parity   ] %-28s max|diff| = %.3e (tol %.1e)\n", std::string(name).c_str(), \
                codiff_d_, codiff_t_);                                                         \
    EXPECT_LE(codiff_d_, codiff_t_) << name;                                                   \
  } while (0)
