// Untrusted bytes -> 8-bit RGB for the model, plus what is needed to hand the
// result back in the mode the user sent (grey, alpha, orientation applied).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/image/image.h"
#include "core/image/image_format.h"
#include "core/image/image_limits.h"
#include "core/image/image_metadata.h"
#include "core/image/image_probe.h"
#include "core/image/jpeg_coefficients.h"

namespace codiff::image {

struct DecodedImage {
  // Always 3 channels (R, G, B), 8-bit, EXIF orientation already applied.
  Image rgb;
  // 1 channel, same size as rgb; empty when the source had no alpha.
  Image alpha;
  ImageFormat format = ImageFormat::kUnknown;
  // The source had no colour (grey JPEG, grey PNG, ...): rgb has R == G == B.
  bool grey = false;
  // The source had 16-bit samples; they were scaled to 8 bits with
  // round(v * 255 / 65535), so this is not reversible.
  bool source_16bit = false;
  // 1..8 from the EXIF block of a JPEG (APP1), PNG (eXIf) or WebP (EXIF
  // chunk), 1 when none; already applied. TIFF reports 1: OpenCV applies the
  // TIFF Orientation tag itself while decoding.
  int exif_orientation = 1;
  // JPEG sources whose first component is luma at full resolution on the
  // image's own 8x8 grid (no EXIF rotation): that component's quantisation
  // table, natural order (for pipeline::ProjectLumaOntoJpeg). Unset otherwise.
  std::optional<std::array<uint16_t, 64>> jpeg_luma_table;
  // Set with jpeg_luma_table: that component's quantised coefficients as the
  // file stores them (shared: DecodedImage is copied into every request).
  std::shared_ptr<const JpegComponentCoefficients> jpeg_luma_coefficients;
  // JPEG sources: the IJG quality factor (1..100) their quantisation tables
  // imply (JpegHeaderInfo::qf; the nearest standard table for other
  // encoders). Unset for other formats.
  std::optional<int> jpeg_quality;
  // The file's ICC profile, EXIF, XMP and IPTC (JPEG, PNG, WebP), for the
  // output to carry (image_output.h); rgb is in the profile's encoded values.
  // A CMYK JPEG with a CMYK profile is converted to sRGB through it here (the
  // model takes three channels), and its profile dropped from `metadata`.
  ImageMetadata metadata;
  // Set for those CMYK JPEGs: the profile's description.
  std::string converted_from_cmyk;

  bool has_alpha() const { return !alpha.empty(); }
};

// Decodes JPEG (baseline, progressive, grey, CMYK), PNG, WebP, BMP or TIFF.
// The header is probed first, and ImageLimits are enforced on the byte count
// and on the declared dimensions before the decoder allocates pixels.
//
// Errors: InvalidArgument for anything the user sent wrong ("empty input",
// "not a recognised image format", "JPEG truncated: ...", "corrupt JPEG:
// ...", "could not decode ..."); ResourceExhausted when a limit is exceeded.
//
// Truncated JPEGs are rejected, never decoded partially: libjpeg would fill
// the missing rows with grey and only warn, and restoring such an image would
// present invented content as the user's. A JPEG counts as complete when
// every scan's entropy-coded data is followed by a marker and the stream
// ends with EOI (trailing bytes after EOI are ignored).
// `probed`: the caller's ProbeImage(bytes, kFull) of these bytes (an
// admission's), used instead of parsing the header again; null: parsed here.
absl::StatusOr<DecodedImage> DecodeImage(std::string_view bytes,
                                         const ImageLimits& limits = ImageLimits(),
                                         const ImageInfo* probed = nullptr);

// What the image's colours are encoded in, for people: the embedded
// profile's description ("unnamed ICC profile" without one, "unreadable ICC
// profile" when lcms2 cannot parse it), "<description> (CMYK, converted to
// sRGB)" for CMYK sources, "" when the file has no profile (sRGB by
// convention).
std::string ColorProfileName(const DecodedImage& image);

// Puts a 3-channel model result (same size as source.rgb) back into the
// source's mode: 1 channel (ITU-R BT.601 luma, OpenCV's RGB2GRAY) for grey
// sources, with source.alpha appended as a 4th channel when present (a grey
// source with alpha comes back as RGBA since Image has no grey+alpha mode).
absl::StatusOr<Image> RestoreSourceMode(const Image& rgb, const DecodedImage& source);

}  // namespace codiff::image
