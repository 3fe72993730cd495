// Container formats the pipeline reads and writes.
#pragma once

namespace codiff::image {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kBmp, kTiff };

constexpr const char* ImageFormatName(ImageFormat f) {
  switch (f) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kTiff:
      return "TIFF";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace codiff::image
