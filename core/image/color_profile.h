// Colour management with lcms2: what an embedded ICC profile is, and
// conversion of pixels encoded in it to sRGB. Restoration runs in a file's
// own encoded values (the JPEG artefacts live there); conversion is for
// outputs asked for in sRGB and for CMYK sources, which the model cannot
// take as they are.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace codiff::image {

enum class IccColorSpace { kRgb, kGray, kCmyk, kOther };

struct IccProfileInfo {
  IccColorSpace color_space = IccColorSpace::kOther;
  // The profile's description tag, e.g. "Adobe RGB (1998)"; "" when absent.
  std::string description;
  // Its colorants and curves are sRGB's (IEC 61966-2.1) within 8-bit
  // rounding: such a profile needs no conversion to display as sRGB.
  bool is_srgb = false;
};

// InvalidArgument when lcms2 cannot parse the bytes as a profile.
absl::StatusOr<IccProfileInfo> ReadIccProfileInfo(std::string_view icc);

// Pixels encoded in `icc` (an RGB profile; 3 channels, or 4 with alpha,
// which is kept) as sRGB, relative colorimetric with black-point
// compensation. Grey images and grey profiles: FailedPrecondition.
absl::StatusOr<Image> ConvertRgbToSrgb(const Image& image, std::string_view icc);

// 4-channel CMYK samples as sRGB. `inverted`: Adobe's convention (0 = full
// ink), which Photoshop writes and marks with an APP14 Adobe segment. With
// a CMYK profile the conversion goes through it; without one, the naive
// R = (1 - C)(1 - K) formula libjpeg-based decoders use.
absl::StatusOr<Image> ConvertCmykToSrgb(const Image& cmyk, bool inverted, std::string_view icc);

// Mean CIE76 colour difference between two sRGB images of the same size
// (D50 Lab through lcms2), for tests and evaluation.
absl::StatusOr<double> MeanDeltaE76(const Image& a, const Image& b);

}  // namespace codiff::image
