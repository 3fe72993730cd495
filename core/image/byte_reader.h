// Bounds-checked integer reads from untrusted byte strings, shared by the
// header parsers. Every accessor takes the offset explicitly and reports
// failure instead of reading past the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace codiff::image::internal {

inline bool HasBytes(std::string_view s, size_t offset, size_t count) {
  return offset <= s.size() && count <= s.size() - offset;
}

inline std::optional<uint32_t> ReadU8(std::string_view s, size_t offset) {
  if (!HasBytes(s, offset, 1)) return std::nullopt;
  return static_cast<uint8_t>(s[offset]);
}

inline std::optional<uint32_t> ReadU16(std::string_view s, size_t offset, bool big_endian) {
  if (!HasBytes(s, offset, 2)) return std::nullopt;
  const uint32_t a = static_cast<uint8_t>(s[offset]);
  const uint32_t b = static_cast<uint8_t>(s[offset + 1]);
  return big_endian ? (a << 8) | b : (b << 8) | a;
}

inline std::optional<uint32_t> ReadU24(std::string_view s, size_t offset, bool big_endian) {
  if (!HasBytes(s, offset, 3)) return std::nullopt;
  uint32_t v = 0;
  for (int i = 0; i < 3; ++i) {
    const uint32_t byte = static_cast<uint8_t>(s[offset + (big_endian ? i : 2 - i)]);
    v = (v << 8) | byte;
  }
  return v;
}

inline std::optional<uint32_t> ReadU32(std::string_view s, size_t offset, bool big_endian) {
  if (!HasBytes(s, offset, 4)) return std::nullopt;
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t byte = static_cast<uint8_t>(s[offset + (big_endian ? i : 3 - i)]);
    v = (v << 8) | byte;
  }
  return v;
}

inline bool StartsWith(std::string_view s, size_t offset, std::string_view prefix) {
  return HasBytes(s, offset, prefix.size()) && s.substr(offset, prefix.size()) == prefix;
}

}  // namespace codiff::image::internal
