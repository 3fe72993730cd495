// The quantised DCT coefficients a JPEG stores for its first component, read
// with libjpeg (jpeg_read_coefficients: entropy decoding only, no inverse DCT,
// no colour conversion). They give the exact quantisation interval of every
// luma block, where recovering them from decoded pixels fails wherever the
// decoder clipped a colour channel to 0 or 255 (about a third of the blocks
// of the validation photos at QF 20).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace codiff::image {

struct JpegComponentCoefficients {
  int blocks_wide = 0;  // ceil(component width / 8)
  int blocks_high = 0;
  // [blocks_high][blocks_wide][64]: the quantised values k (the coefficient
  // is k * q), natural (row-major) order within a block.
  std::vector<int16_t> values;
};

// Component 0 of a JPEG. InvalidArgument (with libjpeg's message) when libjpeg
// cannot read the file.
absl::StatusOr<JpegComponentCoefficients> ReadFirstComponentCoefficients(std::string_view bytes);

}  // namespace codiff::image
