// Reading torch.save files (a checkpoint's tensors and plain values) without
// Python and without executing anything from the file; see pickle_reader.h
// for what is accepted. Both layouts torch.save has written:
//   - zip (PyTorch >= 1.6): <archive>/data.pkl + one record per storage
//     (<archive>/data/<key>), stored uncompressed;
//   - legacy: magic number, protocol, system-info and object pickles, the
//     list of storage keys, then each storage as <int64 numel><bytes>.
// Every tensor is checked against its storage (offset, sizes, strides) before
// it is built; a view gets its own contiguous copy.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "core/weights/tensor_io.h"

namespace codiff {

struct TorchFileContents {
  // Every tensor, by its path of dict keys (and list indices) joined with '.',
  // e.g. "state_dict_unet.conv_in.base_layer.weight". Dtypes as stored.
  TensorMap tensors;
  // The whole object as JSON, each tensor replaced by the string
  // "<tensor PATH>" (ints, floats, strings, lists and dicts as they are).
  nlohmann::json values;
};

absl::StatusOr<TorchFileContents> ReadTorchFile(const std::string& path);

// The state dict inside a checkpoint: the object itself, or the first of the
// common wrappers "state_dict", "model", "params_ema", "params", "module"
// when the top level holds nothing but such a wrapper's tensors; a "module."
// prefix on every key (DataParallel) is removed.
TensorMap ExtractStateDict(TensorMap tensors, std::string* wrapper_note = nullptr);

}  // namespace codiff
