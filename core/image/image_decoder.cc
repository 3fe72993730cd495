#include "core/image/image_decoder.h"

#include "core/image/parse_counters.h"

#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/image/byte_reader.h"
#include "core/image/color_profile.h"
#include "core/image/exif_orientation.h"
#include "core/image/jpeg_cmyk.h"
#include "core/image/jpeg_header.h"
#include "core/util/status_macros.h"

namespace codiff::image {
namespace {

using internal::ReadU32;
using internal::ReadU8;
using internal::StartsWith;

// Walks PNG chunks (bounds-checked) up to the first IDAT looking for eXIf,
// which holds a bare TIFF structure.
std::string_view FindPngExif(std::string_view b) {
  size_t pos = 8;
  while (true) {
    const auto len = ReadU32(b, pos, true);
    if (!len || !internal::HasBytes(b, pos + 8, uint64_t{*len} + 4)) return {};
    if (StartsWith(b, pos + 4, "IDAT") || StartsWith(b, pos + 4, "IEND")) return {};
    if (StartsWith(b, pos + 4, "eXIf")) return b.substr(pos + 8, *len);
    pos += 12 + static_cast<size_t>(*len);
  }
}

// RIFF chunks of an extended (VP8X) WebP; the EXIF chunk holds TIFF data,
// sometimes with an "Exif\0\0" prefix that ReadExifOrientation skips.
std::string_view FindWebpExif(std::string_view b) {
  size_t pos = 12;
  while (true) {
    const auto len = ReadU32(b, pos + 4, false);
    if (!len || !internal::HasBytes(b, pos + 8, *len)) return {};
    if (StartsWith(b, pos, "EXIF")) return b.substr(pos + 8, *len);
    pos += 8 + static_cast<size_t>(*len) + (*len & 1);  // Chunks are padded to even size.
  }
}

absl::Status CheckJpeg(const JpegHeaderInfo& h) {
  if (h.precision != 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported JPEG: ", h.precision, "-bit samples (only 8-bit is supported)"));
  }
  if (h.lossless || h.hierarchical) {
    return absl::InvalidArgumentError("unsupported JPEG: lossless or hierarchical coding");
  }
  return absl::OkStatus();
}

int JpegOrientation(const JpegHeaderInfo& h, std::string_view bytes) {
  if (h.exif_size == 0) return 1;
  return ReadExifOrientation(bytes.substr(h.exif_offset, h.exif_size));
}

// The table of the first component when it is luma (libjpeg's colour-space
// rules: grey, or three components that are not Adobe RGB or named R, G, B)
// at full resolution, so its 8x8 blocks tile the decoded image from the
// origin; an EXIF rotation moves that grid, so then none.
std::optional<std::array<uint16_t, 64>> LumaTable(const JpegHeaderInfo& h, int orientation) {
  if (orientation != 1 || h.component_info.empty()) return std::nullopt;
  const std::vector<JpegComponent>& c = h.component_info;
  const bool grey = h.components == 1;
  const bool named_rgb = c.size() == 3 && c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B';
  const bool ycbcr = h.components == 3 && h.adobe_transform != 0 && !named_rgb;
  if (!grey && !ycbcr) return std::nullopt;
  for (const JpegComponent& other : c) {
    if (other.h_sampling > c[0].h_sampling || other.v_sampling > c[0].v_sampling) {
      return std::nullopt;
    }
  }
  const int index = c[0].quant_table_index;
  if (index < 0 || index >= static_cast<int>(h.quant_tables.size())) return std::nullopt;
  return h.quant_tables[index].natural;
}

int ReadOrientation(ImageFormat format, std::string_view bytes) {
  switch (format) {
    case ImageFormat::kPng:
      return ReadExifOrientation(FindPngExif(bytes));
    case ImageFormat::kWebp:
      return ReadExifOrientation(FindWebpExif(bytes));
    // OpenCV 4.6 reads 8-bit TIFF through libtiff's RGBA interface, which
    // already applies the TIFF Orientation tag; applying it again would
    // double-rotate, so TIFF reports 1. BMP has no orientation.
    default:
      return 1;
  }
}

Image FromMat(const cv::Mat& m) {
  Image out(m.cols, m.rows, m.channels());
  const size_t row_bytes = static_cast<size_t>(m.cols) * m.channels();
  for (int y = 0; y < m.rows; ++y) std::memcpy(&out.data[out.index(0, y)], m.ptr(y), row_bytes);
  return out;
}

// A CMYK (or YCCK) JPEG through its own CMYK profile to sRGB: the stored
// samples, Adobe-inverted when the file has an APP14 Adobe segment.
absl::Status DecodeCmykThroughProfile(std::string_view bytes, const JpegHeaderInfo& header,
                                      DecodedImage& out) {
  ASSIGN_OR_RETURN(const IccProfileInfo profile, ReadIccProfileInfo(out.metadata.icc));
  if (profile.color_space != IccColorSpace::kCmyk) {
    return absl::InvalidArgumentError("the embedded profile is not a CMYK profile");
  }
  ASSIGN_OR_RETURN(const Image cmyk, DecodeJpegCmykSamples(bytes));
  ASSIGN_OR_RETURN(Image rgb,
                   ConvertCmykToSrgb(cmyk, header.adobe_transform >= 0, out.metadata.icc));
  out.rgb = ApplyExifOrientation(rgb, out.exif_orientation);
  out.converted_from_cmyk = profile.description.empty() ? "CMYK" : profile.description;
  out.metadata.icc.clear();
  out.metadata.notes.push_back(
      absl::StrCat("CMYK converted to sRGB through its profile (", out.converted_from_cmyk, ")"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DecodedImage> DecodeImage(std::string_view bytes, const ImageLimits& limits,
                                         const ImageInfo* probed) {
  internal::CountDecode();
  if (bytes.empty()) return absl::InvalidArgumentError("empty input: no image data");
  // imdecode takes an int length, whatever the configured limit.
  if (bytes.size() > limits.max_bytes || bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("image file is ", bytes.size(), " bytes; the limit is ", limits.max_bytes));
  }
  // The admission's full parse when the caller has one: the file's header
  // is parsed once per request.
  ImageInfo own;
  if (probed == nullptr || (probed->format == ImageFormat::kJpeg &&
                            (!probed->jpeg || probed->jpeg_mode != JpegParseMode::kFull))) {
    ASSIGN_OR_RETURN(own, ProbeImage(bytes, JpegParseMode::kFull));
    probed = &own;
  }
  const ImageInfo& info = *probed;
  RETURN_IF_ERROR(CheckImageLimits(info.width, info.height, limits));

  DecodedImage out;
  out.format = info.format;
  if (info.format == ImageFormat::kJpeg) {
    const JpegHeaderInfo& header = *info.jpeg;
    RETURN_IF_ERROR(CheckJpeg(header));
    out.exif_orientation = JpegOrientation(header, bytes);
    out.jpeg_luma_table = LumaTable(header, out.exif_orientation);
    if (header.has_qf) out.jpeg_quality = header.qf;
    out.metadata = ReadJpegMetadata(bytes, header);
    if (header.components == 4 && !out.metadata.icc.empty()) {
      auto converted = DecodeCmykThroughProfile(bytes, header, out);
      if (converted.ok()) return out;
      // The fixed-formula conversion below still gives a usable image.
      out.metadata.notes.push_back(absl::StrCat("CMYK profile not used (", converted.message(),
                                                "); converted with the plain formula"));
      out.metadata.icc.clear();
    }
    if (out.jpeg_luma_table) {
      // Without them the projection falls back to recovering the
      // coefficients from pixels, so a file libjpeg balks at is no error here.
      auto coefficients = ReadFirstComponentCoefficients(bytes);
      if (coefficients.ok()) {
        out.jpeg_luma_coefficients =
            std::make_shared<const JpegComponentCoefficients>(*std::move(coefficients));
      }
    }
  } else {
    out.exif_orientation = ReadOrientation(info.format, bytes);
    out.metadata = ReadImageMetadata(bytes, info.format);
  }

  cv::Mat decoded;
  try {
    // The Mat only wraps the caller's bytes; imdecode never writes to it.
    const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    // IMREAD_UNCHANGED keeps alpha, grey and 16-bit and never applies EXIF
    // orientation (we do that ourselves, once, for every format).
    decoded = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not decode ", ImageFormatName(info.format), " image: ", e.what()));
  }
  if (decoded.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("could not decode ", ImageFormatName(info.format),
                     " image data (corrupt, truncated or an unsupported variant)"));
  }
  RETURN_IF_ERROR(CheckImageLimits(decoded.cols, decoded.rows, limits));

  if (decoded.depth() == CV_16U) {
    out.source_16bit = true;
    cv::Mat eight;
    decoded.convertTo(eight, CV_8U, 255.0 / 65535.0);
    decoded = eight;
  } else if (decoded.depth() != CV_8U) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported ", ImageFormatName(info.format),
                     " sample format (only 8- and 16-bit integer samples are supported)"));
  }

  cv::Mat rgb, alpha;
  switch (decoded.channels()) {
    case 1:
      cv::cvtColor(decoded, rgb, cv::COLOR_GRAY2RGB);
      out.grey = true;
      break;
    case 2: {  // Grey + alpha (TIFF).
      std::vector<cv::Mat> planes;
      cv::split(decoded, planes);
      cv::cvtColor(planes[0], rgb, cv::COLOR_GRAY2RGB);
      alpha = planes[1];
      out.grey = true;
      break;
    }
    case 3:
      cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
      break;
    case 4:
      cv::cvtColor(decoded, rgb, cv::COLOR_BGRA2RGB);
      cv::extractChannel(decoded, alpha, 3);
      // OpenCV expands grey+alpha PNGs to BGRA; colour type 4 says grey.
      out.grey = info.format == ImageFormat::kPng && ReadU8(bytes, 25) == 4u;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported channel count ", decoded.channels()));
  }
  out.rgb = ApplyExifOrientation(FromMat(rgb), out.exif_orientation);
  if (!alpha.empty()) out.alpha = ApplyExifOrientation(FromMat(alpha), out.exif_orientation);
  return out;
}

std::string ColorProfileName(const DecodedImage& image) {
  if (!image.converted_from_cmyk.empty()) {
    return absl::StrCat(image.converted_from_cmyk, " (CMYK, converted to sRGB)");
  }
  if (image.metadata.icc.empty()) return "";
  auto info = ReadIccProfileInfo(image.metadata.icc);
  if (!info.ok()) return "unreadable ICC profile";
  return info->description.empty() ? "unnamed ICC profile" : info->description;
}

absl::StatusOr<Image> RestoreSourceMode(const Image& rgb, const DecodedImage& source) {
  if (rgb.channels != 3 || rgb.data.size() != static_cast<size_t>(rgb.width) * rgb.height * 3) {
    return absl::InvalidArgumentError("RestoreSourceMode expects a 3-channel RGB image");
  }
  if (source.has_alpha() &&
      (source.alpha.width != rgb.width || source.alpha.height != rgb.height)) {
    return absl::InvalidArgumentError("alpha channel and image sizes differ");
  }
  Image colour = rgb;
  if (source.grey) {
    const cv::Mat in(rgb.height, rgb.width, CV_8UC3, const_cast<uint8_t*>(rgb.data.data()));
    cv::Mat g;
    cv::cvtColor(in, g, cv::COLOR_RGB2GRAY);
    if (!source.has_alpha()) return FromMat(g);
    cv::Mat g3;
    cv::cvtColor(g, g3, cv::COLOR_GRAY2RGB);
    colour = FromMat(g3);
  }
  if (!source.has_alpha()) return colour;
  Image out(rgb.width, rgb.height, 4);
  const size_t pixels = static_cast<size_t>(rgb.width) * rgb.height;
  for (size_t i = 0; i < pixels; ++i) {
    std::memcpy(&out.data[i * 4], &colour.data[i * 3], 3);
    out.data[i * 4 + 3] = source.alpha.data[i];
  }
  return out;
}

}  // namespace codiff::image
