// Format sniffing and header-only dimension reading, so size limits can be
// enforced before a decoder allocates anything.
#pragma once

#include <memory>

#include <string_view>

#include "absl/status/statusor.h"
#include "core/image/image_format.h"
#include "core/image/image_limits.h"
#include "core/image/jpeg_header.h"

namespace codiff::image {

struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  // As stored, before EXIF orientation (which may swap them).
  int width = 0;
  int height = 0;
  // A JPEG's parsed header (tables, quality, subsampling, metadata
  // segments), parsed as `jpeg_mode` says; null for other formats. It
  // travels with the request so that nothing parses the file again.
  std::shared_ptr<const JpegHeaderInfo> jpeg;
  JpegParseMode jpeg_mode = JpegParseMode::kHeaderOnly;
};

// Recognises JPEG, PNG, WebP, BMP and TIFF by signature and reads width and
// height from JPEG SOF, PNG IHDR, WebP VP8/VP8L/VP8X, BMP info header or TIFF
// IFD0. Anything else — including formats OpenCV could decode but which we
// do not accept from users — is InvalidArgument "not a recognised image
// format". JPEG probing stops at the first scan by default, so it is cheap;
// kFull also walks the scans (the decoder's check: truncation, structure),
// in one linear pass over the bytes.
absl::StatusOr<ImageInfo> ProbeImage(std::string_view bytes,
                                     JpegParseMode jpeg_mode = JpegParseMode::kHeaderOnly);

// ResourceExhausted when the declared size breaks a limit.
absl::Status CheckImageLimits(int width, int height, const ImageLimits& limits);

}  // namespace codiff::image
