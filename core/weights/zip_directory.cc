#include "core/weights/zip_directory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace codiff {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr size_t kEndOfDirectorySize = 22;
constexpr size_t kMaxEntries = 1 << 20;

uint64_t Le(absl::Span<const uint8_t> b, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[at + i]) << (8 * i);
  return v;
}

absl::Status Damaged(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("not a readable torch.save zip: ", what));
}

// Is [offset, offset + length) inside a buffer of `size` bytes?
bool Inside(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace

bool LooksLikeZip(absl::Span<const uint8_t> file) {
  return file.size() >= 4 && Le(file, 0, 4) == kLocalHeader;
}

absl::StatusOr<std::vector<ZipEntry>> ReadStoredZipDirectory(absl::Span<const uint8_t> file) {
  const uint64_t size = file.size();
  if (size < kEndOfDirectorySize) return Damaged("shorter than an end-of-directory record");
  // The end record sits at the end, before a comment of at most 64 KiB.
  const uint64_t lowest =
      size > kEndOfDirectorySize + 0xFFFF ? size - kEndOfDirectorySize - 0xFFFF : 0;
  uint64_t eocd = size - kEndOfDirectorySize;
  while (true) {
    if (Le(file, eocd, 4) == kEndOfDirectory &&
        eocd + kEndOfDirectorySize + Le(file, eocd + 20, 2) == size) {
      break;
    }
    if (eocd == lowest) return Damaged("no end-of-central-directory record (truncated?)");
    --eocd;
  }
  uint64_t entries = Le(file, eocd + 10, 2);
  uint64_t dir_size = Le(file, eocd + 12, 4);
  uint64_t dir_offset = Le(file, eocd + 16, 4);
  if (entries == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) {
    if (eocd < 20 || Le(file, eocd - 20, 4) != kZip64Locator) {
      return Damaged("ZIP64 sizes without a ZIP64 locator");
    }
    const uint64_t end64 = Le(file, eocd - 20 + 8, 8);
    if (!Inside(end64, 56, size) || Le(file, end64, 4) != kZip64End) {
      return Damaged("ZIP64 end record missing or out of range");
    }
    entries = Le(file, end64 + 32, 8);
    dir_size = Le(file, end64 + 40, 8);
    dir_offset = Le(file, end64 + 48, 8);
  }
  if (!Inside(dir_offset, dir_size, size)) return Damaged("central directory lies past the end");
  if (entries > kMaxEntries) return Damaged("too many entries");

  std::vector<ZipEntry> out;
  out.reserve(entries);
  uint64_t at = dir_offset;
  const uint64_t dir_end = dir_offset + dir_size;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!Inside(at, 46, dir_end) || Le(file, at, 4) != kCentralHeader) {
      return Damaged(absl::StrCat("central directory entry ", i, " is damaged"));
    }
    const uint64_t flags = Le(file, at + 8, 2);
    const uint64_t method = Le(file, at + 10, 2);
    uint64_t compressed = Le(file, at + 20, 4);
    uint64_t uncompressed = Le(file, at + 24, 4);
    const uint64_t name_len = Le(file, at + 28, 2);
    const uint64_t extra_len = Le(file, at + 30, 2);
    const uint64_t comment_len = Le(file, at + 32, 2);
    uint64_t local = Le(file, at + 42, 4);
    if (!Inside(at + 46, name_len + extra_len + comment_len, dir_end)) {
      return Damaged(absl::StrCat("central directory entry ", i, " runs past the directory"));
    }
    ZipEntry entry;
    entry.name.assign(reinterpret_cast<const char*>(file.data() + at + 46), name_len);
    // ZIP64 extra field: the 64-bit values, in order, for the 32-bit fields
    // that hold 0xFFFFFFFF.
    uint64_t extra = at + 46 + name_len;
    const uint64_t extra_end = extra + extra_len;
    while (extra + 4 <= extra_end) {
      const uint64_t id = Le(file, extra, 2);
      const uint64_t len = Le(file, extra + 2, 2);
      if (extra + 4 + len > extra_end) return Damaged("extra field runs past its entry");
      if (id == 0x0001) {
        uint64_t p = extra + 4;
        auto take = [&](uint64_t& field) -> bool {
          if (field != 0xFFFFFFFF) return true;
          if (p + 8 > extra + 4 + len) return false;
          field = Le(file, p, 8);
          p += 8;
          return true;
        };
        if (!take(uncompressed) || !take(compressed) || !take(local)) {
          return Damaged("short ZIP64 extra field");
        }
      }
      extra += 4 + len;
    }
    if (flags & 0x1) return Damaged(absl::StrCat("entry '", entry.name, "' is encrypted"));
    if (method != 0 || compressed != uncompressed) {
      return Damaged(absl::StrCat("entry '", entry.name,
                                  "' is compressed; torch.save stores records uncompressed "
                                  "(was the file re-zipped?)"));
    }
    if (!Inside(local, 30, size) || Le(file, local, 4) != kLocalHeader) {
      return Damaged(absl::StrCat("local header of '", entry.name, "' is missing"));
    }
    const uint64_t data = local + 30 + Le(file, local + 26, 2) + Le(file, local + 28, 2);
    if (!Inside(data, uncompressed, size)) {
      return Damaged(absl::StrCat("data of '", entry.name, "' runs past the end of the file (",
                                  size, " bytes; truncated?)"));
    }
    entry.data_offset = data;
    entry.size = uncompressed;
    out.push_back(std::move(entry));
    at += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

}  // namespace codiff
