#include "core/image/image_probe.h"

#include "core/image/parse_counters.h"

#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/image/byte_reader.h"
#include "core/image/jpeg_header.h"
#include "core/util/status_macros.h"

namespace codiff::image {
namespace {

using internal::ReadU16;
using internal::ReadU24;
using internal::ReadU32;
using internal::ReadU8;
using internal::StartsWith;

constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);

absl::Status BadHeader(ImageFormat f, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("corrupt ", ImageFormatName(f), " header: ", what));
}

absl::StatusOr<ImageInfo> Make(ImageFormat f, uint64_t w, uint64_t h) {
  if (w == 0 || h == 0) return BadHeader(f, "image has zero width or height");
  // Anything above int range is far beyond every limit; saturate so the
  // limit check still reports it instead of overflowing.
  ImageInfo info;
  info.format = f;
  info.width = static_cast<int>(std::min<uint64_t>(w, INT32_MAX));
  info.height = static_cast<int>(std::min<uint64_t>(h, INT32_MAX));
  return info;
}

absl::StatusOr<ImageInfo> ProbePng(std::string_view b) {
  // IHDR must be the first chunk and is exactly 13 bytes long.
  if (!StartsWith(b, 12, "IHDR") || ReadU32(b, 8, true) != 13u) {
    return BadHeader(ImageFormat::kPng, "missing IHDR chunk");
  }
  const auto w = ReadU32(b, 16, true);
  const auto h = ReadU32(b, 20, true);
  if (!w || !h) return absl::InvalidArgumentError("PNG truncated: file ends inside the header");
  // Every chunk's length must lie inside the file: libpng allocates what a
  // text chunk claims before reading it (a 254-byte file claiming 2 GB made
  // it malloc 2 GB; found by fuzzing).
  for (size_t at = 8; at + 8 <= b.size();) {
    const uint64_t length = *ReadU32(b, at, true);
    const std::string type(b.substr(at + 4, 4));
    if (length > b.size() - at - 8 || b.size() - at - 8 - length < 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PNG truncated or corrupt: chunk '", absl::CHexEscape(type), "' at byte ", at, " claims ",
          length, " bytes, past the end of the file (", b.size(), " bytes)"));
    }
    if (type == "IEND") break;
    at += 12 + length;
  }
  return Make(ImageFormat::kPng, *w, *h);
}

absl::StatusOr<ImageInfo> ProbeWebp(std::string_view b) {
  const auto short_file = absl::InvalidArgumentError("WebP truncated: file ends inside the header");
  if (StartsWith(b, 12, "VP8 ")) {
    // Lossy bitstream: 3-byte frame tag, start code 9D 01 2A, then 14-bit sizes.
    const auto w = ReadU16(b, 26, false);
    const auto h = ReadU16(b, 28, false);
    if (!w || !h) return short_file;
    if (!StartsWith(b, 23, "\x9d\x01\x2a")) return BadHeader(ImageFormat::kWebp, "bad VP8 start");
    return Make(ImageFormat::kWebp, *w & 0x3FFF, *h & 0x3FFF);
  }
  if (StartsWith(b, 12, "VP8L")) {
    const auto sig = ReadU8(b, 20);
    const auto bits = ReadU32(b, 21, false);
    if (!sig || !bits) return short_file;
    if (*sig != 0x2F) return BadHeader(ImageFormat::kWebp, "bad VP8L signature");
    return Make(ImageFormat::kWebp, (*bits & 0x3FFF) + 1, ((*bits >> 14) & 0x3FFF) + 1);
  }
  if (StartsWith(b, 12, "VP8X")) {
    const auto w = ReadU24(b, 24, false);
    const auto h = ReadU24(b, 27, false);
    if (!w || !h) return short_file;
    return Make(ImageFormat::kWebp, uint64_t{*w} + 1, uint64_t{*h} + 1);
  }
  return BadHeader(ImageFormat::kWebp, "unknown first chunk");
}

absl::StatusOr<ImageInfo> ProbeBmp(std::string_view b) {
  const auto header_size = ReadU32(b, 14, false);
  if (!header_size) return absl::InvalidArgumentError("BMP truncated: file ends inside the header");
  if (*header_size == 12) {  // OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes.
    const auto w = ReadU16(b, 18, false);
    const auto h = ReadU16(b, 20, false);
    if (!w || !h) return absl::InvalidArgumentError("BMP truncated: file ends inside the header");
    return Make(ImageFormat::kBmp, *w, *h);
  }
  if (*header_size < 40) return BadHeader(ImageFormat::kBmp, "unknown info header size");
  const auto w = ReadU32(b, 18, false);
  const auto h = ReadU32(b, 22, false);
  if (!w || !h) return absl::InvalidArgumentError("BMP truncated: file ends inside the header");
  // Signed; a negative height marks a top-down bitmap.
  const int64_t sw = static_cast<int32_t>(*w);
  const int64_t sh = static_cast<int32_t>(*h);
  if (sw <= 0) return BadHeader(ImageFormat::kBmp, "width is not positive");
  return Make(ImageFormat::kBmp, static_cast<uint64_t>(sw), static_cast<uint64_t>(std::llabs(sh)));
}

absl::StatusOr<ImageInfo> ProbeTiff(std::string_view b) {
  const bool be = b[0] == 'M';
  const auto ifd = ReadU32(b, 4, be);
  if (!ifd) return absl::InvalidArgumentError("TIFF truncated: file ends inside the header");
  const auto count = ReadU16(b, *ifd, be);
  if (!count) return BadHeader(ImageFormat::kTiff, "first directory lies outside the file");
  uint64_t w = 0, h = 0;
  for (uint32_t i = 0; i < *count; ++i) {
    const uint64_t e = uint64_t{*ifd} + 2 + 12ull * i;
    if (e + 12 > b.size()) return BadHeader(ImageFormat::kTiff, "directory runs past end of file");
    const uint32_t tag = *ReadU16(b, e, be);
    if (tag != 256 && tag != 257) continue;
    const uint32_t type = *ReadU16(b, e + 2, be);
    uint64_t v;
    if (type == 3) {
      v = *ReadU16(b, e + 8, be);
    } else if (type == 4) {
      v = *ReadU32(b, e + 8, be);
    } else {
      return BadHeader(ImageFormat::kTiff, "image size tag has an unexpected type");
    }
    (tag == 256 ? w : h) = v;
  }
  if (w == 0 || h == 0) return BadHeader(ImageFormat::kTiff, "image width or height missing");
  return Make(ImageFormat::kTiff, w, h);
}

}  // namespace

absl::StatusOr<ImageInfo> ProbeImage(std::string_view b, JpegParseMode jpeg_mode) {
  if (b.empty()) return absl::InvalidArgumentError("empty input: no image data");
  if (StartsWith(b, 0, "\xFF\xD8")) {
    ASSIGN_OR_RETURN(JpegHeaderInfo h, ParseJpegHeader(b, jpeg_mode));
    ASSIGN_OR_RETURN(ImageInfo info, Make(ImageFormat::kJpeg, static_cast<uint64_t>(h.width),
                                          static_cast<uint64_t>(h.height)));
    info.jpeg = std::make_shared<const JpegHeaderInfo>(std::move(h));
    info.jpeg_mode = jpeg_mode;
    return info;
  }
  internal::CountHeaderParse();
  if (StartsWith(b, 0, kPngSignature)) return ProbePng(b);
  if (StartsWith(b, 0, "RIFF") && StartsWith(b, 8, "WEBP")) return ProbeWebp(b);
  if (StartsWith(b, 0, "BM")) return ProbeBmp(b);
  if (StartsWith(b, 0, std::string_view("II*\0", 4)) ||
      StartsWith(b, 0, std::string_view("MM\0*", 4))) {
    return ProbeTiff(b);
  }
  if (StartsWith(b, 0, std::string_view("II+\0", 4)) ||
      StartsWith(b, 0, std::string_view("MM\0+", 4))) {
    return absl::InvalidArgumentError("unsupported image format: BigTIFF");
  }
  return absl::InvalidArgumentError(
      "not a recognised image format (accepted: JPEG, PNG, WebP, BMP, TIFF)");
}

absl::Status CheckImageLimits(int width, int height, const ImageLimits& limits) {
  const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
  if (width > limits.max_side || height > limits.max_side) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "image is %dx%d pixels; the longest side allowed is %d", width, height, limits.max_side));
  }
  if (pixels > limits.max_pixels) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("image is %dx%d = %d pixels (%.1f megapixels); the limit is %d pixels "
                        "(limits.max_pixels)",
                        width, height, pixels, pixels / 1e6, limits.max_pixels));
  }
  return absl::OkStatus();
}

}  // namespace codiff::image
