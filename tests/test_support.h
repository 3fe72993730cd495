// Helpers shared by every test binary.
#pragma once

#include <string>

#include <torch/types.h>

#include "core/weights/tensor_io.h"

namespace codiff::testing {

// Absolute path of a file under tests/testdata.
std::string TestdataPath(const std::string& relative);

// Reads a safetensors file under tests/testdata; fails the test if it cannot.
TensorMap LoadTestTensors(const std::string& relative);

// Max |a - b| over all elements (float64 accumulation); shapes must match.
double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b);

// Fresh empty directory under the test's temporary area.
std::string MakeTempDir(const std::string& tag);

}  // namespace codiff::testing

// Asserts that two tensors agree within `tol` and prints the measured
// difference, so parity margins are visible in every test log.
#define EXPECT_TENSOR_NEAR(name, actual, expected, tol)                                        \
  do {                                                                                         \
    const torch::Tensor codiff_a_ = (actual);                                                  \
    const torch::Tensor codiff_e_ = (expected);                                                \
    ASSERT_EQ(codiff_a_.sizes(), codiff_e_.sizes()) << name;                                   \
    const double codiff_d_ = ::codiff::testing::MaxAbsDiff(codiff_a_, codiff_e_);              \
    std::printf("[ parity   ] %-28s max|diff| = %.3e (tol %.0e)\n", std::string(name).c_str(), \
                codiff_d_, static_cast<double>(tol));                                          \
    EXPECT_LE(codiff_d_, (tol)) << name;                                                       \
  } while (0)
