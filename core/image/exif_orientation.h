// EXIF orientation (TIFF tag 0x0112): read it from the metadata ourselves and
// apply it to decoded pixels, because OpenCV only honours it for some formats
// and we decode with orientation handling off to avoid applying it twice.
#pragma once

#include <string_view>

#include "core/image/image.h"

namespace codiff::image {

// Orientation value from IFD0 of a TIFF-structured EXIF block ("II*\0" or
// "MM\0*" header; a leading "Exif\0\0" is skipped). Every offset is bounds
// checked. Returns 1 (upright) when the tag is absent, malformed or not 1..8:
// bad metadata must not fail an otherwise good image.
int ReadExifOrientation(std::string_view tiff);

// Transforms `image` (any channel count) from stored to display layout. For
// value v, stored row 0 / column 0 are displayed at: 1 top/left, 2 top/right,
// 3 bottom/right, 4 bottom/left, 5 left/top, 6 right/top, 7 right/bottom,
// 8 left/bottom (EXIF 2.3, tag 274). 5..8 swap width and height.
Image ApplyExifOrientation(const Image& image, int orientation);

}  // namespace codiff::image
