#include "core/weights/tensor_io.h"

#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "core/util/torch_status.h"
#include "core/weights/safetensors.h"

namespace codiff {
namespace {

absl::StatusOr<torch::ScalarType> ToScalarType(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::kF32:
      return torch::kFloat32;
    case TensorDtype::kF16:
      return torch::kFloat16;
    case TensorDtype::kBF16:
      return torch::kBFloat16;
    case TensorDtype::kF64:
      return torch::kFloat64;
    case TensorDtype::kI64:
      return torch::kInt64;
    case TensorDtype::kI32:
      return torch::kInt32;
    case TensorDtype::kU8:
      return torch::kUInt8;
    case TensorDtype::kBool:
      return torch::kBool;
  }
  return absl::InvalidArgumentError("unknown dtype");
}

absl::StatusOr<TensorDtype> FromScalarType(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat32:
      return TensorDtype::kF32;
    case torch::kFloat16:
      return TensorDtype::kF16;
    case torch::kBFloat16:
      return TensorDtype::kBF16;
    case torch::kFloat64:
      return TensorDtype::kF64;
    case torch::kInt64:
      return TensorDtype::kI64;
    case torch::kInt32:
      return TensorDtype::kI32;
    case torch::kUInt8:
      return TensorDtype::kU8;
    case torch::kBool:
      return TensorDtype::kBool;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("dtype ", c10::toString(type), " cannot be stored in safetensors here"));
  }
}

struct MappedTensorContext {
  std::shared_ptr<SafetensorsFile> file;
};

void DeleteMappedTensorContext(void* context) { delete static_cast<MappedTensorContext*>(context); }

}  // namespace

absl::StatusOr<TensorMap> ReadTensorFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(path));
  TensorMap tensors;
  for (const std::string& name : file->names()) {
    ASSIGN_OR_RETURN(TensorView view, file->Get(name));
    ASSIGN_OR_RETURN(torch::ScalarType type, ToScalarType(view.dtype));
    torch::Tensor t = torch::empty(view.shape, torch::TensorOptions().dtype(type));
    if (view.num_bytes > 0) std::memcpy(t.data_ptr(), view.data, view.num_bytes);
    tensors.emplace(name, std::move(t));
  }
  return tensors;
}

absl::StatusOr<TensorMap> MapTensorFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> opened, SafetensorsFile::Open(path));
  std::shared_ptr<SafetensorsFile> file(std::move(opened));
  TensorMap tensors;
  for (const std::string& name : file->names()) {
    ASSIGN_OR_RETURN(TensorView view, file->Get(name));
    ASSIGN_OR_RETURN(torch::ScalarType type, ToScalarType(view.dtype));
    if (view.num_bytes == 0 ||
        reinterpret_cast<uintptr_t>(view.data) % DtypeSize(view.dtype) != 0) {
      // Empty or misaligned data cannot be viewed in place: copy it.
      torch::Tensor t = torch::empty(view.shape, torch::TensorOptions().dtype(type));
      if (view.num_bytes > 0) std::memcpy(t.data_ptr(), view.data, view.num_bytes);
      tensors.emplace(name, std::move(t));
      continue;
    }
    // The storage's context keeps the file mapped and marks the tensor as
    // mapped for ReleaseMappedPages (recognised by its deleter).
    tensors.emplace(name, at::for_blob(const_cast<uint8_t*>(view.data), view.shape)
                              .context(new MappedTensorContext{file}, &DeleteMappedTensorContext)
                              .options(torch::TensorOptions().dtype(type))
                              .make_tensor());
  }
  return tensors;
}

void ReleaseMappedPages(const torch::Tensor& tensor) {
  if (!tensor.defined() || !tensor.has_storage() || !tensor.is_cpu()) return;
  const c10::DataPtr& data = tensor.storage().data_ptr();
  if (data.get_deleter() != &DeleteMappedTensorContext) return;
  const auto* context = static_cast<const MappedTensorContext*>(data.get_context());
  context->file->ReleasePages(static_cast<const uint8_t*>(tensor.data_ptr()), tensor.nbytes());
}

absl::Status WriteTensorFile(const std::string& path, const NamedTensors& tensors,
                             const std::map<std::string, std::string>& metadata) {
  std::vector<torch::Tensor> keep_alive;
  std::vector<TensorToWrite> to_write;
  keep_alive.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    ASSIGN_OR_RETURN(TensorDtype dtype, FromScalarType(tensor.scalar_type()));
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    keep_alive.push_back(cpu);
    TensorToWrite entry;
    entry.name = name;
    entry.dtype = dtype;
    entry.shape = cpu.sizes().vec();
    entry.data = cpu.data_ptr();
    entry.num_bytes = cpu.numel() * cpu.element_size();
    to_write.push_back(std::move(entry));
  }
  return WriteSafetensors(path, to_write, metadata);
}

}  // namespace codiff
