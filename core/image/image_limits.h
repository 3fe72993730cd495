// Caps applied to untrusted input before any pixel buffer is allocated.
#pragma once

#include <cstdint>

namespace codiff::image {

struct ImageLimits {
  // Size of the encoded file.
  uint64_t max_bytes = 64ull << 20;
  // width * height, as declared by the file header.
  uint64_t max_pixels = 40'000'000;
  // Longest side; bounds tile and intermediate buffers even for thin images.
  int max_side = 16384;
};

}  // namespace codiff::image
