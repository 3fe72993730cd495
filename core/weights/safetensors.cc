#include "core/weights/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "core/weights/mapped_file.h"

namespace codiff {
namespace {

// Real headers are kilobytes; anything this large is corrupt or hostile.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

bool MultiplyChecked(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

}  // namespace

size_t DtypeSize(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::kF32:
    case TensorDtype::kI32:
      return 4;
    case TensorDtype::kF16:
    case TensorDtype::kBF16:
      return 2;
    case TensorDtype::kF64:
    case TensorDtype::kI64:
      return 8;
    case TensorDtype::kU8:
    case TensorDtype::kBool:
      return 1;
  }
  return 0;
}

const char* DtypeName(TensorDtype dtype) {
  switch (dtype) {
    case TensorDtype::kF32:
      return "F32";
    case TensorDtype::kF16:
      return "F16";
    case TensorDtype::kBF16:
      return "BF16";
    case TensorDtype::kF64:
      return "F64";
    case TensorDtype::kI64:
      return "I64";
    case TensorDtype::kI32:
      return "I32";
    case TensorDtype::kU8:
      return "U8";
    case TensorDtype::kBool:
      return "BOOL";
  }
  return "?";
}

absl::StatusOr<TensorDtype> ParseDtype(const std::string& name) {
  static const std::pair<const char*, TensorDtype> kTable[] = {
      {"F32", TensorDtype::kF32}, {"F16", TensorDtype::kF16},  {"BF16", TensorDtype::kBF16},
      {"F64", TensorDtype::kF64}, {"I64", TensorDtype::kI64},  {"I32", TensorDtype::kI32},
      {"U8", TensorDtype::kU8},   {"BOOL", TensorDtype::kBool}};
  for (const auto& [spelling, dtype] : kTable) {
    if (name == spelling) return dtype;
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported safetensors dtype '", name, "'"));
}

absl::Status ParseSafetensorsHeader(const uint8_t* bytes, size_t size,
                                    std::vector<std::string>* names,
                                    std::map<std::string, TensorView>* tensors,
                                    std::map<std::string, std::string>* metadata) {
  if (size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "safetensors: file is ", size, " bytes, shorter than the 8-byte header length"));
  }
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("safetensors: header length ", header_len, " exceeds the limit"));
  }
  if (header_len > size - 8) {
    return absl::InvalidArgumentError(absl::StrCat("safetensors: header length ", header_len,
                                                   " runs past the end of the ", size,
                                                   "-byte file (truncated?)"));
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes + 8);
  nlohmann::json header = nlohmann::json::parse(header_begin, header_begin + header_len,
                                                /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return absl::InvalidArgumentError("safetensors: header is not a valid JSON object");
  }
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  std::vector<std::pair<uint64_t, std::string>> by_offset;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& entry = it.value();
    if (key == "__metadata__") {
      if (!entry.is_object()) {
        return absl::InvalidArgumentError("safetensors: __metadata__ is not an object");
      }
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat("safetensors: metadata value '", m.key(), "' is not a string"));
        }
        (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&key](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor '", key, "': ", why));
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      return bad("entry needs dtype, shape and data_offsets");
    }
    if (!entry["dtype"].is_string()) return bad("dtype is not a string");
    auto dtype = ParseDtype(entry["dtype"].get<std::string>());
    if (!dtype.ok()) return bad(std::string(dtype.status().message()));
    const nlohmann::json& shape_json = entry["shape"];
    const nlohmann::json& offsets = entry["data_offsets"];
    if (!shape_json.is_array()) return bad("shape is not an array");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      return bad("data_offsets must be two non-negative integers");
    }
    TensorView view;
    view.name = key;
    view.dtype = *dtype;
    uint64_t elements = 1;
    for (const auto& dim : shape_json) {
      if (!dim.is_number_unsigned()) return bad("shape has a negative or non-integer dimension");
      const uint64_t d = dim.get<uint64_t>();
      if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          !MultiplyChecked(elements, d, &elements)) {
        return bad("shape overflows");
      }
      view.shape.push_back(static_cast<int64_t>(d));
    }
    uint64_t expected_bytes = 0;
    if (!MultiplyChecked(elements, DtypeSize(view.dtype), &expected_bytes)) {
      return bad("byte size overflows");
    }
    const uint64_t begin = offsets[0].get<uint64_t>();
    const uint64_t end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      return bad(absl::StrCat("data_offsets [", begin, ", ", end, ") exceed the data section of ",
                              data_size, " bytes"));
    }
    if (end - begin != expected_bytes) {
      return bad(absl::StrCat("data_offsets span ", end - begin, " bytes but dtype and shape need ",
                              expected_bytes));
    }
    view.data = data + begin;
    view.num_bytes = expected_bytes;
    by_offset.emplace_back(begin, key);
    (*tensors)[key] = std::move(view);
  }
  std::sort(by_offset.begin(), by_offset.end());
  for (auto& [offset, name] : by_offset) names->push_back(name);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  auto mapped = MappedFile::Open(path);
  if (!mapped.ok()) return mapped.status();
  file->file_ = *std::move(mapped);
  const absl::Span<const uint8_t> bytes = file->file_->bytes();
  absl::Status status = ParseSafetensorsHeader(bytes.data(), bytes.size(), &file->names_,
                                               &file->tensors_, &file->metadata_);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;

absl::StatusOr<TensorView> SafetensorsFile::Get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor named '", name, "'"));
  }
  return it->second;
}

absl::Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t elements = 1;
    for (int64_t d : t.shape) elements *= static_cast<uint64_t>(d);
    if (elements * DtypeSize(t.dtype) != t.num_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("WriteSafetensors: '", t.name, "' has ", t.num_bytes,
                       " bytes, its dtype and shape need ", elements * DtypeSize(t.dtype)));
    }
    header[t.name] = {{"dtype", DtypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.num_bytes}}};
    offset += t.num_bytes;
  }
  std::string header_text = header.dump();
  // Pad so the data section starts 8-byte aligned, as the reference writer does.
  while ((header_text.size() % 8) != 0) header_text.push_back(' ');

  const std::string tmp_path = path + ".tmp";
  {
    std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp_path));
    const uint64_t n = header_text.size();
    char len_bytes[8];
    for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len_bytes, 8);
    out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
    for (const auto& t : tensors) {
      out.write(static_cast<const char*>(t.data), static_cast<std::streamsize>(t.num_bytes));
    }
    out.flush();
    if (!out) {
      std::remove(tmp_path.c_str());
      return absl::InternalError(absl::StrCat("write failed for ", tmp_path));
    }
  }
  if (std::rename(tmp_path.c_str(), path.c_str()) != 0) {
    std::remove(tmp_path.c_str());
    return absl::InternalError(absl::StrCat("cannot rename ", tmp_path, " to ", path));
  }
  return absl::OkStatus();
}

void SafetensorsFile::ReleasePages(const uint8_t* data, size_t length) const {
  const uint8_t* begin = file_->bytes().data();
  if (data < begin || data >= begin + file_->bytes().size()) return;
  file_->Release(static_cast<size_t>(data - begin), length);
}

}  // namespace codiff
