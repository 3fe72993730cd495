// A restricted unpickler for the pickles that torch.save writes.
//
// Python's pickle is a small stack machine whose GLOBAL + REDUCE opcodes call
// any importable function: loading an untrusted checkpoint with torch.load
// can run `os.system`. This reader executes nothing. It understands the
// opcodes of protocols 0-5 that describe plain data (numbers, strings, lists,
// tuples, dicts) and resolves only an allow-list of globals, each to a fixed
// meaning here (an OrderedDict is a dict, `_rebuild_tensor_v2` describes a
// tensor). Any other global is an error naming it, raised when the GLOBAL
// opcode is read, before anything could be called.
//
// The result is a tree of nodes in an arena (indices, not pointers), so a
// hostile pickle cannot build cycles that leak or blow the stack on
// destruction; consumers walk it with a depth limit. Free of LibTorch so the
// parser can be fuzzed and unit-tested cheaply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace codiff {

enum class StorageDtype { kF32, kF16, kBF16, kF64, kI64, kI32, kI16, kI8, kU8, kBool };
size_t StorageDtypeSize(StorageDtype dtype);
const char* StorageDtypeName(StorageDtype dtype);

struct PickleNode {
  enum class Kind {
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,   // str (UTF-8)
    kBytes,    // bytes
    kList,     // items
    kTuple,    // items
    kDict,     // entries (insertion order)
    kGlobal,   // an allow-listed global not yet applied (e.g. a storage type)
    kStorage,  // a persistent id naming a storage record
    kTensor,   // _rebuild_tensor_v2(storage, offset, size, stride, ...)
  };
  Kind kind = Kind::kNone;
  int64_t int_value = 0;     // kBool, kInt; kStorage: the root storage's element count
  double float_value = 0.0;  // kFloat
  std::string text;          // kString, kBytes; kGlobal "module.name"; kStorage key
  std::vector<int32_t> items;
  std::vector<std::pair<int32_t, int32_t>> entries;
  // kStorage: element type and element count as the persistent id states them.
  StorageDtype storage_dtype = StorageDtype::kF32;
  int64_t storage_numel = 0;
  // kStorage (legacy format view): offset in elements into the root storage
  // named by `text` (0 otherwise).
  int64_t storage_view_offset = 0;
  // kTensor: index of the kStorage node, element offset, sizes and strides.
  int32_t storage = -1;
  int64_t storage_offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
};

struct PickleTree {
  std::vector<PickleNode> nodes;
  int32_t root = -1;
  // Bytes of input the pickle took, up to and including STOP (the legacy
  // torch format writes several pickles back to back).
  size_t consumed = 0;

  const PickleNode& at(int32_t index) const { return nodes[static_cast<size_t>(index)]; }
};

struct PickleLimits {
  size_t max_nodes = size_t{1} << 24;  // ~16.7M values
  size_t max_stack = size_t{1} << 24;  // stack + memo entries
  size_t max_container_items = size_t{1} << 26;
};

// Parses one pickle from the start of `bytes`. Storages (persistent ids) are
// recorded, not loaded: the caller finds their bytes (a zip record or the
// legacy format's trailing storage section) and checks every tensor against
// them.
absl::StatusOr<PickleTree> ParseTorchPickle(absl::Span<const uint8_t> bytes,
                                            const PickleLimits& limits = {});

// The globals the reader accepts, for documentation and error messages.
std::vector<std::string> AllowedPickleGlobals();

}  // namespace codiff
