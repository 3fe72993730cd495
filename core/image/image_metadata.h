// Metadata blocks of image files: read them from untrusted inputs and write
// them into encoded outputs, each in its own format's container, so a
// restored image keeps the source's colour profile, EXIF, XMP and IPTC.
// OpenCV's encoders write none of these, and its decoders expose only some.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image_format.h"
#include "core/image/jpeg_header.h"

namespace codiff::image {

// Blocks as raw bytes, free of their container's framing, so any block read
// from one format can be written into another.
struct ImageMetadata {
  std::string icc;   // Whole ICC profile (JPEG's APP2 chunks reassembled); "" when none.
  std::string exif;  // TIFF structure ("II*\0" or "MM\0*"), without the "Exif\0\0" prefix.
  std::string xmp;   // XMP packet (UTF-8 XML).
  // Photoshop image resources (the 8BIM blocks, IPTC-NAA among them), as in
  // a JPEG APP13 segment after "Photoshop 3.0\0".
  std::string iptc;
  // One human-readable line per block that was dropped (malformed, too
  // large, no container for it): the caller reports them, nothing fails.
  std::vector<std::string> notes;

  // No icc, exif, xmp or iptc (notes do not count).
  bool empty() const;
};

// Caps on what is kept from an untrusted file. Compressed PNG chunks are
// never inflated past them, so a small zlib bomb costs no memory.
struct MetadataLimits {
  size_t max_icc = 4 << 20;
  size_t max_exif = 65000;
  size_t max_xmp = 65000;
  size_t max_iptc = 65000;
};

// The blocks of `file` in `format`'s containers: JPEG (APP1 Exif and XMP,
// APP2 ICC_PROFILE chunks, APP13 Photoshop, up to SOS), PNG (iCCP, eXIf,
// iTXt XML:com.adobe.xmp, up to IDAT; IPTC is not read: PNG has no
// standard place for it) and WebP (ICCP, EXIF, XMP). BMP, TIFF and unknown
// formats give an empty result. Never fails: a malformed or oversized block
// is dropped and noted, and the walk stops quietly at a malformed container,
// since bad metadata must not fail an otherwise good image. Where a block
// occurs twice, the first one counts.
ImageMetadata ReadImageMetadata(std::string_view file, ImageFormat format,
                                const MetadataLimits& limits = MetadataLimits());
// The same for a JPEG whose header is parsed: its metadata segments are
// read where the parse found them, without walking the file again.
ImageMetadata ReadJpegMetadata(std::string_view file, const JpegHeaderInfo& header,
                               const MetadataLimits& limits = MetadataLimits());

// `encoded` (a file OpenCV's encoder just wrote: well-formed, none of these
// blocks) with the non-empty blocks of `metadata` inserted. JPEG: after SOI
// (or the JFIF APP0), APP1 Exif, APP1 XMP, APP2 ICC in chunks, APP13. PNG:
// after IHDR, iCCP, eXIf, iTXt XMP and, for IPTC, a zTXt "Raw profile type
// iptc" (ImageMagick's and exiftool's convention). WebP: an extended file
// (VP8X) with ICCP, EXIF and XMP chunks; IPTC has no WebP container. BMP,
// TIFF and unknown formats: `encoded` unchanged. A block too large for its
// container, or without one, is dropped and noted in *notes (when non-null).
// InvalidArgument when `encoded` is not a `format` file.
absl::StatusOr<std::string> EmbedImageMetadata(std::string_view encoded, ImageFormat format,
                                               const ImageMetadata& metadata,
                                               std::vector<std::string>* notes = nullptr);

// A copy of the TIFF structure with IFD0's Orientation (tag 0x0112) set to 1,
// for outputs whose pixels are already turned upright: viewers would turn
// them again otherwise. An unchanged copy when the tag is absent or the
// structure malformed (a leading "Exif\0\0" is skipped and kept).
std::string ExifWithUprightOrientation(std::string_view tiff);

}  // namespace codiff::image
