// Image -> encoded bytes for the response.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "core/image/image.h"
#include "core/image/image_format.h"

namespace codiff::image {

struct EncodeOptions {
  // kPng, kJpeg or kWebp.
  ImageFormat format = ImageFormat::kPng;
  // 1..100 for JPEG (IJG scale, 4:2:0) and lossy WebP; ignored for PNG.
  int quality = 90;
};

// Encodes a 1-channel (grey), 3-channel (RGB) or 4-channel (RGBA) image.
// JPEG cannot hold alpha: an RGBA image with JPEG is InvalidArgument so the
// caller decides how to flatten it. Grey WebP is written as RGB (WebP has no
// grey mode); it decodes with R == G == B.
absl::StatusOr<std::string> EncodeImage(const Image& image,
                                        const EncodeOptions& options = EncodeOptions());

}  // namespace codiff::image
