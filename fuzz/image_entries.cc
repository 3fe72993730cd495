// Fuzz entries for the image readers: ImageDecodeInput and JpegInput
// (fuzz/fuzz_entries.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/image/image_decoder.h"
#include "core/image/image_limits.h"
#include "core/image/image_probe.h"
#include "core/image/jpeg_coefficients.h"
#include "core/image/jpeg_header.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_entries.h"

namespace codiff::fuzz {
namespace {

// Far below the server's defaults, so a header that legitimately asks for a
// large image is refused before anything is allocated; the code paths are
// the same.
image::ImageLimits FuzzLimits() {
  image::ImageLimits limits;
  limits.max_bytes = 1 << 20;
  limits.max_pixels = 1 << 20;
  limits.max_side = 4096;
  return limits;
}

void CheckCoefficients(const image::JpegComponentCoefficients& c) {
  FUZZ_CHECK(c.blocks_wide > 0 && c.blocks_high > 0);
  FUZZ_CHECK(c.values.size() == static_cast<size_t>(c.blocks_wide) * c.blocks_high * 64);
}

void CheckJpegHeader(const image::JpegHeaderInfo& h, size_t size, image::JpegParseMode mode) {
  FUZZ_CHECK(h.width > 0 && h.height > 0);
  FUZZ_CHECK(h.components >= 1 && static_cast<size_t>(h.components) == h.component_info.size());
  for (const image::JpegComponent& c : h.component_info) {
    FUZZ_CHECK(c.quant_table_index >= -1 &&
               c.quant_table_index < static_cast<int>(h.quant_tables.size()));
  }
  FUZZ_CHECK(h.exif_offset <= size && h.exif_size <= size - h.exif_offset);
  if (mode == image::JpegParseMode::kFull) {
    FUZZ_CHECK(h.eoi_end >= 4 && h.eoi_end <= size);
  } else {
    FUZZ_CHECK(h.eoi_end == 0);
  }
  if (h.has_qf) FUZZ_CHECK(h.qf >= 1 && h.qf <= 100);
}

}  // namespace

void ImageDecodeInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const image::ImageLimits limits = FuzzLimits();
  auto info = image::ProbeImage(bytes);
  if (info.ok()) FUZZ_CHECK(info->width > 0 && info->height > 0);
  auto decoded = image::DecodeImage(bytes, limits);
  if (!decoded.ok()) return;
  // What the server relies on: a well-formed RGB image inside the limits.
  FUZZ_CHECK(info.ok());
  const image::Image& rgb = decoded->rgb;
  FUZZ_CHECK(rgb.channels == 3 && rgb.width > 0 && rgb.height > 0);
  FUZZ_CHECK(rgb.width <= limits.max_side && rgb.height <= limits.max_side);
  FUZZ_CHECK(static_cast<uint64_t>(rgb.width) * rgb.height <= limits.max_pixels);
  FUZZ_CHECK(rgb.data.size() == static_cast<size_t>(rgb.width) * rgb.height * 3);
  if (decoded->has_alpha()) {
    FUZZ_CHECK(decoded->alpha.width == rgb.width && decoded->alpha.height == rgb.height);
    FUZZ_CHECK(decoded->alpha.channels == 1);
  }
  FUZZ_CHECK(decoded->exif_orientation >= 1 && decoded->exif_orientation <= 8);
  if (decoded->jpeg_quality)
    FUZZ_CHECK(*decoded->jpeg_quality >= 1 && *decoded->jpeg_quality <= 100);
  if (decoded->jpeg_luma_coefficients) CheckCoefficients(*decoded->jpeg_luma_coefficients);
  auto restored = image::RestoreSourceMode(rgb, *decoded);
  FUZZ_CHECK(restored.ok());
}

void JpegInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto header = image::ParseJpegHeader(bytes, image::JpegParseMode::kHeaderOnly);
  if (header.ok()) CheckJpegHeader(*header, size, image::JpegParseMode::kHeaderOnly);
  auto full = image::ParseJpegHeader(bytes, image::JpegParseMode::kFull);
  if (full.ok()) {
    CheckJpegHeader(*full, size, image::JpegParseMode::kFull);
    // Both modes read the same frame header.
    FUZZ_CHECK(header.ok() && header->width == full->width && header->height == full->height);
  }
  // DecodeImage reads coefficients only once the declared size passed the
  // limits; do the same (libjpeg allocates by the frame header).
  if (!header.ok() || !image::CheckImageLimits(header->width, header->height, FuzzLimits()).ok()) {
    return;
  }
  auto coefficients = image::ReadFirstComponentCoefficients(bytes);
  if (coefficients.ok()) CheckCoefficients(*coefficients);
}

}  // namespace codiff::fuzz
