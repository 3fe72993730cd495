#include "core/weights/torch_file.h"

#include <cstring>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/mapped_file.h"
#include "core/weights/pickle_reader.h"
#include "core/weights/zip_directory.h"

namespace codiff {
namespace {

using Kind = PickleNode::Kind;

// Python's legacy torch.save magic number, 0x1950a86a20f9469cfc6c, as the
// little-endian bytes of the LONG1 opcode that holds it.
constexpr uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
constexpr int kMaxDepth = 64;
constexpr size_t kMaxValues = size_t{1} << 22;

torch::ScalarType ScalarTypeOf(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kF32:
      return torch::kFloat32;
    case StorageDtype::kF16:
      return torch::kFloat16;
    case StorageDtype::kBF16:
      return torch::kBFloat16;
    case StorageDtype::kF64:
      return torch::kFloat64;
    case StorageDtype::kI64:
      return torch::kInt64;
    case StorageDtype::kI32:
      return torch::kInt32;
    case StorageDtype::kI16:
      return torch::kInt16;
    case StorageDtype::kI8:
      return torch::kInt8;
    case StorageDtype::kU8:
      return torch::kUInt8;
    case StorageDtype::kBool:
      return torch::kBool;
  }
  return torch::kFloat32;
}

// Where one storage's bytes lie in the file.
struct StorageBytes {
  size_t offset = 0;
  uint64_t size = 0;  // bytes
};

class TensorBuilder {
 public:
  TensorBuilder(const std::string& path, const MappedFile& file, const PickleTree& tree,
                std::map<std::string, StorageBytes> storages)
      : path_(path), file_(file), tree_(tree), storages_(std::move(storages)) {}

  absl::StatusOr<TorchFileContents> Build() {
    TorchFileContents out;
    ASSIGN_OR_RETURN(out.values, Walk(tree_.root, "", 0, &out.tensors));
    return out;
  }

 private:
  absl::Status Error(const std::string& where, const std::string& what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": ", where.empty() ? "" : absl::StrCat("'", where, "': "), what));
  }

  // The whole storage as a 1-D tensor, copied out of the file once.
  absl::StatusOr<torch::Tensor> Storage(const PickleNode& ref, const std::string& where) {
    const torch::ScalarType type = ScalarTypeOf(ref.storage_dtype);
    if (auto cached = loaded_.find(ref.text); cached != loaded_.end()) {
      if (cached->second.scalar_type() != type) {
        return Error(where, absl::StrCat("storage '", ref.text, "' is read as two dtypes"));
      }
      return cached->second;
    }
    auto it = storages_.find(ref.text);
    if (it == storages_.end()) {
      return Error(where, absl::StrCat("storage '", ref.text, "' has no data in the file"));
    }
    const StorageBytes& bytes = it->second;
    // The stored bytes must be exactly the element count the header states.
    const uint64_t element = StorageDtypeSize(ref.storage_dtype);
    if (bytes.size % element != 0 || bytes.size / element != static_cast<uint64_t>(ref.int_value)) {
      return Error(where, absl::StrCat("storage '", ref.text, "' holds ", bytes.size,
                                       " bytes but its header says ", ref.int_value, " ",
                                       StorageDtypeName(ref.storage_dtype), " elements"));
    }
    torch::Tensor t = torch::empty({ref.int_value}, torch::TensorOptions().dtype(type));
    if (bytes.size > 0) std::memcpy(t.data_ptr(), file_.bytes().data() + bytes.offset, bytes.size);
    file_.Release(bytes.offset, bytes.size);
    loaded_.emplace(ref.text, t);
    return t;
  }

  absl::StatusOr<torch::Tensor> MakeTensor(const PickleNode& node, const std::string& where) {
    const PickleNode& ref = tree_.at(node.storage);
    ASSIGN_OR_RETURN(torch::Tensor storage, Storage(ref, where));
    const int64_t available = ref.storage_numel;  // elements of this (view of the) storage
    const int64_t base = ref.storage_view_offset;
    if (node.storage_offset < 0) return Error(where, "negative storage offset");
    int64_t numel = 1;
    int64_t last = node.storage_offset;  // highest element index the tensor reads
    for (size_t d = 0; d < node.sizes.size(); ++d) {
      const int64_t size = node.sizes[d], stride = node.strides[d];
      if (size < 0 || stride < 0) return Error(where, "negative size or stride");
      if (size == 0) numel = 0;
      if (numel != 0 && size > std::numeric_limits<int64_t>::max() / std::max<int64_t>(numel, 1)) {
        return Error(where, "size overflows");
      }
      numel *= size;
      if (size > 0 && stride > 0 &&
          (size - 1) > (std::numeric_limits<int64_t>::max() - last) / stride) {
        return Error(where, "size and stride overflow");
      }
      if (size > 0) last += (size - 1) * stride;
    }
    if (numel == 0) {
      if (node.storage_offset > available) {
        return Error(where,
                     absl::StrCat("storage offset ", node.storage_offset,
                                  " lies past the end of its storage (", available, " elements)"));
      }
    } else if (node.storage_offset >= available || last >= available) {
      return Error(where,
                   absl::StrCat("tensor of shape [", absl::StrJoin(node.sizes, ", "), "]",
                                " at storage offset ", node.storage_offset, " needs element ", last,
                                " but its storage holds ", available, " elements"));
    }
    return CatchTorchErrors(where, [&] {
      torch::Tensor view = storage.as_strided(node.sizes, node.strides, base + node.storage_offset);
      const bool whole = base == 0 && node.storage_offset == 0 && view.is_contiguous() &&
                         view.numel() == storage.numel();
      return whole ? view : view.clone(at::MemoryFormat::Contiguous);
    });
  }

  static std::string Join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : absl::StrCat(prefix, ".", key);
  }

  absl::StatusOr<nlohmann::json> Walk(int32_t index, const std::string& where, int depth,
                                      TensorMap* tensors) {
    if (depth > kMaxDepth) return Error(where, "nested too deeply");
    if (++values_ > kMaxValues) return Error(where, "too many values");
    const PickleNode& node = tree_.at(index);
    switch (node.kind) {
      case Kind::kNone:
        return nlohmann::json(nullptr);
      case Kind::kBool:
        return nlohmann::json(node.int_value != 0);
      case Kind::kInt:
        return nlohmann::json(node.int_value);
      case Kind::kFloat:
        return nlohmann::json(node.float_value);
      case Kind::kString:
        return nlohmann::json(node.text);
      case Kind::kBytes:
        return nlohmann::json(absl::StrCat("<", node.text.size(), " bytes>"));
      case Kind::kGlobal:
        return nlohmann::json(absl::StrCat("<", node.text, ">"));
      case Kind::kStorage:
        return Error(where, "a bare storage (not inside a tensor) is not supported");
      case Kind::kTensor: {
        ASSIGN_OR_RETURN(torch::Tensor t, MakeTensor(node, where));
        if (!tensors->emplace(where, std::move(t)).second) {
          return Error(where, "two tensors have the same name");
        }
        return nlohmann::json(absl::StrCat("<tensor ", where, ">"));
      }
      case Kind::kList:
      case Kind::kTuple: {
        nlohmann::json out = nlohmann::json::array();
        for (size_t i = 0; i < node.items.size(); ++i) {
          ASSIGN_OR_RETURN(nlohmann::json item,
                           Walk(node.items[i], Join(where, std::to_string(i)), depth + 1, tensors));
          out.push_back(std::move(item));
        }
        return out;
      }
      case Kind::kDict: {
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [key_index, value_index] : node.entries) {
          const PickleNode& key = tree_.at(key_index);
          std::string name;
          if (key.kind == Kind::kString) {
            name = key.text;
          } else if (key.kind == Kind::kInt) {
            name = std::to_string(key.int_value);
          } else {
            return Error(where, "a dict key is neither a string nor an integer");
          }
          ASSIGN_OR_RETURN(nlohmann::json value,
                           Walk(value_index, Join(where, name), depth + 1, tensors));
          out[name] = std::move(value);
        }
        return out;
      }
    }
    return Error(where, "unknown value");
  }

  const std::string& path_;
  const MappedFile& file_;
  const PickleTree& tree_;
  std::map<std::string, StorageBytes> storages_;
  std::map<std::string, torch::Tensor> loaded_;
  size_t values_ = 0;
};

absl::Status Prefixed(const std::string& path, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

absl::StatusOr<TorchFileContents> ReadZip(const std::string& path, const MappedFile& file) {
  auto entries = ReadStoredZipDirectory(file.bytes());
  if (!entries.ok()) return Prefixed(path, entries.status());
  const ZipEntry* pickle = nullptr;
  std::string archive;
  for (const ZipEntry& e : *entries) {
    const auto slash = e.name.find('/');
    if (slash != std::string::npos && e.name.substr(slash) == "/data.pkl") {
      pickle = &e;
      archive = e.name.substr(0, slash + 1);
      break;
    }
  }
  if (pickle == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": a zip without <archive>/data.pkl is not a torch.save file"));
  }
  std::map<std::string, StorageBytes> storages;
  for (const ZipEntry& e : *entries) {
    if (e.name == archive + "byteorder") {
      const std::string order(reinterpret_cast<const char*>(file.bytes().data() + e.data_offset),
                              std::min<uint64_t>(e.size, 16));
      if (order != "little") {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": byte order '", order, "' is not supported"));
      }
    }
    const std::string data_prefix = archive + "data/";
    if (absl::StartsWith(e.name, data_prefix)) {
      storages[e.name.substr(data_prefix.size())] = {e.data_offset, e.size};
    }
  }
  auto tree = ParseTorchPickle(file.bytes().subspan(pickle->data_offset, pickle->size));
  if (!tree.ok()) return Prefixed(path, tree.status());
  return TensorBuilder(path, file, *tree, std::move(storages)).Build();
}

absl::StatusOr<TorchFileContents> ReadLegacy(const std::string& path, const MappedFile& file) {
  absl::Span<const uint8_t> rest = file.bytes();
  auto next = [&](const char* what) -> absl::StatusOr<PickleTree> {
    auto tree = ParseTorchPickle(rest);
    if (!tree.ok()) {
      return absl::Status(tree.status().code(),
                          absl::StrCat(path, ": ", what, ": ", tree.status().message()));
    }
    rest = rest.subspan(tree->consumed);
    return tree;
  };
  // Magic number: PROTO, LONG1 of 10 bytes, STOP.
  size_t at = (rest.size() >= 2 && rest[0] == 0x80) ? 2 : 0;
  if (rest.size() < at + 13 || rest[at] != 0x8a || rest[at + 1] != 10 ||
      std::memcmp(rest.data() + at + 2, kLegacyMagic, 10) != 0 || rest[at + 12] != '.') {
    if (!rest.empty() && rest[0] == 0x80) {
      // A bare pickle: say why it cannot be read (a refused global names
      // itself) rather than only that the magic number is missing.
      auto plain = ParseTorchPickle(rest);
      if (!plain.ok()) return Prefixed(path, plain.status());
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": a plain pickle without torch.save's magic number; save it with torch.save"));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a torch.save file (neither a zip archive nor the legacy magic number)"));
  }
  rest = rest.subspan(at + 13);
  ASSIGN_OR_RETURN(PickleTree protocol, next("protocol version"));
  ASSIGN_OR_RETURN(PickleTree sys_info, next("system info"));
  for (const auto& [k, v] : sys_info.at(sys_info.root).entries) {
    if (sys_info.at(k).text == "little_endian" && sys_info.at(v).int_value == 0) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": big-endian files are not supported"));
    }
  }
  ASSIGN_OR_RETURN(PickleTree object, next("object"));
  ASSIGN_OR_RETURN(PickleTree keys, next("storage keys"));
  const PickleNode& key_list = keys.at(keys.root);
  if (key_list.kind != Kind::kList) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": storage key list is not a list"));
  }
  // Element sizes come from the object pickle's persistent ids.
  std::map<std::string, StorageDtype> dtypes;
  for (const PickleNode& n : object.nodes) {
    if (n.kind == Kind::kStorage) dtypes.emplace(n.text, n.storage_dtype);
  }
  std::map<std::string, StorageBytes> storages;
  size_t offset = static_cast<size_t>(rest.data() - file.bytes().data());
  const size_t size = file.bytes().size();
  for (int32_t item : key_list.items) {
    const PickleNode& key = keys.at(item);
    if (key.kind != Kind::kString) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": a storage key is not a string"));
    }
    auto dtype = dtypes.find(key.text);
    if (dtype == dtypes.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": storage '", key.text, "' is not used by any tensor"));
    }
    if (size - offset < 8) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": truncated before storage '", key.text, "'"));
    }
    int64_t numel = 0;
    std::memcpy(&numel, file.bytes().data() + offset, 8);
    offset += 8;
    const uint64_t element = StorageDtypeSize(dtype->second);
    if (numel < 0 || static_cast<uint64_t>(numel) > (size - offset) / element) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": storage '", key.text, "' says ", numel,
                       " elements but the file ends first (truncated?)"));
    }
    storages[key.text] = {offset, static_cast<uint64_t>(numel) * element};
    offset += static_cast<size_t>(numel) * element;
  }
  return TensorBuilder(path, file, object, std::move(storages)).Build();
}

}  // namespace

absl::StatusOr<TorchFileContents> ReadTorchFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  if (file->bytes().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  }
  if (LooksLikeZip(file->bytes())) return ReadZip(path, *file);
  return ReadLegacy(path, *file);
}

TensorMap ExtractStateDict(TensorMap tensors, std::string* wrapper_note) {
  for (const char* wrapper : {"state_dict", "model", "params_ema", "params", "module"}) {
    const std::string prefix = absl::StrCat(wrapper, ".");
    TensorMap inner;
    size_t others = 0;
    for (auto& [name, t] : tensors) {
      if (absl::StartsWith(name, prefix)) {
        inner.emplace(name.substr(prefix.size()), t);
      } else {
        ++others;
      }
    }
    if (inner.empty()) continue;
    // "module." on every key is DataParallel's prefix, handled below.
    if (std::string(wrapper) == "module" && others == 0) break;
    if (wrapper_note != nullptr) {
      *wrapper_note =
          absl::StrCat("state dict taken from '", wrapper, "'",
                       others > 0 ? absl::StrCat(" (", others, " other tensors ignored)") : "");
    }
    tensors = std::move(inner);
    break;
  }
  bool all_module = !tensors.empty();
  for (const auto& [name, t] : tensors) all_module &= absl::StartsWith(name, "module.");
  if (all_module) {
    TensorMap stripped;
    for (auto& [name, t] : tensors) stripped.emplace(name.substr(7), t);
    if (wrapper_note != nullptr) {
      *wrapper_note += (wrapper_note->empty() ? "" : "; ");
      *wrapper_note += "'module.' prefix removed";
    }
    return stripped;
  }
  return tensors;
}

}  // namespace codiff
