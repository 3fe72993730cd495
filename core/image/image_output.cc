#include "core/image/image_output.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/image/color_profile.h"
#include "core/util/status_macros.h"

namespace codiff::image {
namespace {

std::string Described(const IccProfileInfo& info) {
  return info.description.empty() ? std::string("unnamed ICC profile") : info.description;
}

bool ProfileFits(const IccProfileInfo& info, int channels, ImageFormat format) {
  // WebP stores every image as colour; PNG and JPEG keep grey as grey.
  const bool grey = channels == 1 && format != ImageFormat::kWebp;
  if (info.color_space == IccColorSpace::kGray) return grey;
  return info.color_space == IccColorSpace::kRgb && !grey;
}

}  // namespace

absl::StatusOr<EncodedOutput> EncodeOutput(const Image& restored, const EncodeOptions& encode,
                                           const ImageMetadata& source,
                                           const OutputOptions& output) {
  EncodedOutput out;
  out.notes = source.notes;
  ImageMetadata carried;
  Image pixels_storage;
  const Image* pixels = &restored;
  if (!source.icc.empty()) {
    auto info = ReadIccProfileInfo(source.icc);
    if (!info.ok()) {
      // Unreadable: the pixels are shown as sRGB either way, tagged or not.
      out.notes.push_back(absl::StrCat("ICC profile dropped: ", info.status().message()));
    } else if (!ProfileFits(*info, restored.channels, encode.format)) {
      // PNG and JPEG readers reject a grey profile on colour pixels and the
      // other way round (a grey WebP is written as RGB, for one).
      out.notes.push_back(absl::StrCat("ICC profile dropped: ", Described(*info),
                                       " does not describe the output's channels"));
    } else if (output.srgb && info->color_space == IccColorSpace::kRgb && !info->is_srgb) {
      ASSIGN_OR_RETURN(pixels_storage, ConvertRgbToSrgb(restored, source.icc));
      pixels = &pixels_storage;
      out.notes.push_back(absl::StrCat("converted from ", Described(*info), " to sRGB"));
    } else if (output.srgb && info->is_srgb) {
      // Already sRGB: untagged says the same.
    } else {
      if (output.srgb) {
        out.notes.push_back(absl::StrCat("kept the ", Described(*info),
                                         " profile: only RGB images are converted to sRGB"));
      }
      carried.icc = source.icc;
      out.color_profile = Described(*info);
    }
  }
  if (output.metadata == MetadataPolicy::kKeep) {
    if (!source.exif.empty()) carried.exif = ExifWithUprightOrientation(source.exif);
    carried.xmp = source.xmp;
    carried.iptc = source.iptc;
  }
  ASSIGN_OR_RETURN(std::string bytes, EncodeImage(*pixels, encode));
  if (carried.empty()) {
    out.bytes = std::move(bytes);
    return out;
  }
  ASSIGN_OR_RETURN(out.bytes, EmbedImageMetadata(bytes, encode.format, carried, &out.notes));
  return out;
}

absl::StatusOr<MetadataPolicy> ParseMetadataPolicy(std::string_view name) {
  if (name == "strip") return MetadataPolicy::kStrip;
  if (name == "keep") return MetadataPolicy::kKeep;
  return absl::InvalidArgumentError(
      absl::StrCat("metadata must be 'strip' or 'keep', got '", std::string(name), "'"));
}

const char* MetadataPolicyName(MetadataPolicy policy) {
  return policy == MetadataPolicy::kKeep ? "keep" : "strip";
}

}  // namespace codiff::image
