#include "core/image/exif_orientation.h"

#include <cstring>

#include "core/image/byte_reader.h"

namespace codiff::image {

using internal::ReadU16;
using internal::ReadU32;
using internal::StartsWith;

int ReadExifOrientation(std::string_view tiff) {
  if (StartsWith(tiff, 0, std::string_view("Exif\0\0", 6))) tiff.remove_prefix(6);
  bool big_endian;
  if (StartsWith(tiff, 0, std::string_view("II*\0", 4))) {
    big_endian = false;
  } else if (StartsWith(tiff, 0, std::string_view("MM\0*", 4))) {
    big_endian = true;
  } else {
    return 1;
  }
  const auto ifd = ReadU32(tiff, 4, big_endian);
  if (!ifd) return 1;
  const auto count = ReadU16(tiff, *ifd, big_endian);
  if (!count) return 1;
  for (uint32_t i = 0; i < *count; ++i) {
    const uint64_t entry = static_cast<uint64_t>(*ifd) + 2 + 12ull * i;
    if (entry + 12 > tiff.size()) return 1;
    const auto tag = ReadU16(tiff, entry, big_endian);
    if (*tag != 0x0112) continue;
    const auto type = ReadU16(tiff, entry + 2, big_endian);
    const auto n = ReadU32(tiff, entry + 4, big_endian);
    // SHORT, count 1: the value sits left-justified in the 4-byte field.
    if (*type != 3 || *n != 1) return 1;
    const auto v = ReadU16(tiff, entry + 8, big_endian);
    return (*v >= 1 && *v <= 8) ? static_cast<int>(*v) : 1;
  }
  return 1;
}

Image ApplyExifOrientation(const Image& image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width;
  const int h = image.height;
  const int ch = image.channels;
  const bool swap = orientation >= 5;
  Image out(swap ? h : w, swap ? w : h, ch);
  for (int r = 0; r < h; ++r) {
    for (int c = 0; c < w; ++c) {
      int dr = r, dc = c;  // Display row/column of stored pixel (r, c).
      switch (orientation) {
        case 2:
          dc = w - 1 - c;
          break;
        case 3:
          dr = h - 1 - r;
          dc = w - 1 - c;
          break;
        case 4:
          dr = h - 1 - r;
          break;
        case 5:
          dr = c;
          dc = r;
          break;
        case 6:
          dr = c;
          dc = h - 1 - r;
          break;
        case 7:
          dr = w - 1 - c;
          dc = h - 1 - r;
          break;
        case 8:
          dr = w - 1 - c;
          dc = r;
          break;
      }
      std::memcpy(&out.data[out.index(dc, dr)], &image.data[image.index(c, r)], ch);
    }
  }
  return out;
}

}  // namespace codiff::image
