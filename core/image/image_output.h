// The restored pixels as the response's file: colour (keep the source's
// profile, or convert to sRGB), metadata (strip, or keep each block in the
// output format's own container) and the encoder.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image.h"
#include "core/image/image_encoder.h"
#include "core/image/image_metadata.h"

namespace codiff::image {

// kStrip (the default) keeps only the colour profile: a service that
// restores photos for others should not pass on their GPS position, camera
// serial or editing history unless asked. kKeep carries EXIF (orientation
// set to 1: the pixels are already upright), XMP and IPTC as well.
enum class MetadataPolicy { kStrip, kKeep };

struct OutputOptions {
  MetadataPolicy metadata = MetadataPolicy::kStrip;
  // Convert pixels encoded in a non-sRGB RGB profile to sRGB and write no
  // profile (for consumers that ignore profiles). Off: the output carries
  // the source's profile and displays as the source did.
  bool srgb = false;
};

struct EncodedOutput {
  std::string bytes;
  // The profile the output is tagged with ("" = untagged, i.e. sRGB).
  std::string color_profile;
  // Blocks dropped or changed on the way, one line each.
  std::vector<std::string> notes;
};

// `restored`: 1, 3 or 4 channels in the source's encoded values. `source`:
// what ReadImageMetadata found in the input.
absl::StatusOr<EncodedOutput> EncodeOutput(const Image& restored, const EncodeOptions& encode,
                                           const ImageMetadata& source,
                                           const OutputOptions& output);

// "strip" / "keep" and back; InvalidArgument names the accepted values.
absl::StatusOr<MetadataPolicy> ParseMetadataPolicy(std::string_view name);
const char* MetadataPolicyName(MetadataPolicy policy);

}  // namespace codiff::image
