// Optional recording of intermediate tensors, for parity checks against the
// reference implementation. A null Trace* costs one pointer test per site.
#pragma once

#include <map>
#include <string>

#include <torch/types.h>

namespace codiff::models {

using Trace = std::map<std::string, torch::Tensor>;

// Names are built only when tracing, so the hot path never allocates strings.
inline void Record(Trace* trace, const std::string& name, const torch::Tensor& value) {
  if (trace != nullptr) (*trace)[name] = value;
}

}  // namespace codiff::models
