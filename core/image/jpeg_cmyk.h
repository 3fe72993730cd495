// The stored samples of a four-component (CMYK or YCCK) JPEG, for colour
// conversion through its own ICC profile: OpenCV converts such files with a
// fixed formula that ignores the profile.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace codiff::image {

// 4 channels, C M Y K as stored (YCCK converted to CMYK by libjpeg). Files
// with an APP14 Adobe segment store them inverted (0 = full ink); the
// caller knows from JpegHeaderInfo::adobe_transform. InvalidArgument for
// anything libjpeg cannot decode or that is not four components.
absl::StatusOr<Image> DecodeJpegCmykSamples(std::string_view bytes);

}  // namespace codiff::image
