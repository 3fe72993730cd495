#include "training/data/jpeg_table_bank.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "core/image/jpeg_header.h"
#include "core/image/libjpeg_errors.h"

namespace codiff::training {
namespace {

std::array<uint16_t, 64> Perturb(const std::array<uint16_t, 64>& base, double tilt, double jitter,
                                 std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0.0, jitter);
  std::array<uint16_t, 64> out{};
  for (int i = 0; i < 64; ++i) {
    const int u = i % 8, v = i / 8;
    // Tilt about the middle frequency: > 0 steeper (high frequencies
    // quantised harder), < 0 flatter, DC nearly unchanged.
    double value = base[i] * std::exp(tilt * ((u + v) / 14.0 - 0.2));
    if (jitter > 0) value *= std::exp(noise(rng));
    out[i] = static_cast<uint16_t>(std::clamp(std::lround(value), 1L, 255L));
  }
  return out;
}

}  // namespace

JpegTables DrawJpegTables(const DegradationOptions& options, int luma_qf, std::mt19937_64& rng) {
  JpegTables tables;
  const int spread = std::max(0, options.chroma_qf_spread);
  const int chroma_qf =
      std::clamp(luma_qf + std::uniform_int_distribution<int>(-spread, spread)(rng), 1, 100);
  const double tilt = std::uniform_real_distribution<double>(-0.6, 0.6)(rng);
  tables.luma = Perturb(image::IjgScaledTable(std::clamp(luma_qf, 1, 100), false), tilt,
                        options.table_jitter, rng);
  tables.chroma = Perturb(image::IjgScaledTable(chroma_qf, true), tilt, options.table_jitter, rng);
  if (!options.subsampling.empty()) {
    tables.subsampling = options.subsampling[std::uniform_int_distribution<size_t>(
        0, options.subsampling.size() - 1)(rng)];
  }
  static const char* const kDcts[] = {"islow", "ifast", "float"};
  tables.dct = kDcts[std::uniform_int_distribution<int>(0, 2)(rng)];
  return tables;
}

int LabelQuality(const JpegTables& tables) {
  image::JpegQuantTable luma, chroma;
  luma.natural = tables.luma;
  chroma.id = 1;
  chroma.natural = tables.chroma;
  return image::EstimateIjgQuality(luma, &chroma).qf;
}

absl::StatusOr<std::string> EncodeJpegWithTables(const image::Image& rgb,
                                                 const JpegTables& tables) {
  if (rgb.channels != 3 || rgb.width <= 0 || rgb.height <= 0) {
    return absl::InvalidArgumentError("EncodeJpegWithTables needs a non-empty RGB image");
  }
  int h = 2, v = 2;
  if (tables.subsampling == "4:4:4") {
    h = v = 1;
  } else if (tables.subsampling == "4:2:2") {
    v = 1;
  } else if (tables.subsampling != "4:2:0") {
    return absl::InvalidArgumentError(
        absl::StrCat("subsampling must be 4:4:4, 4:2:2 or 4:2:0, got '", tables.subsampling, "'"));
  }
  J_DCT_METHOD dct = JDCT_ISLOW;
  if (tables.dct == "ifast") {
    dct = JDCT_IFAST;
  } else if (tables.dct == "float") {
    dct = JDCT_FLOAT;
  } else if (tables.dct != "islow") {
    return absl::InvalidArgumentError(
        absl::StrCat("dct must be islow, ifast or float, got '", tables.dct, "'"));
  }
  jpeg_compress_struct info;
  image::LibjpegErrors errors;
  info.err = errors.Install();
  // Nothing with a destructor may live between setjmp and a longjmp to it:
  // the output buffer is libjpeg's (malloc) and copied out at the end.
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_compress(&info);
    std::free(buffer);
    return absl::InternalError(absl::StrCat("libjpeg: ", errors.message));
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, &buffer, &size);
  info.image_width = static_cast<JDIMENSION>(rgb.width);
  info.image_height = static_cast<JDIMENSION>(rgb.height);
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  info.dct_method = dct;
  unsigned int luma[64], chroma[64];
  for (int i = 0; i < 64; ++i) {
    luma[i] = tables.luma[i];
    chroma[i] = tables.chroma[i];
  }
  // Scale 100: the entries go in as given (libjpeg's tables are in natural order).
  jpeg_add_quant_table(&info, 0, luma, 100, TRUE);
  jpeg_add_quant_table(&info, 1, chroma, 100, TRUE);
  info.comp_info[0].h_samp_factor = h;
  info.comp_info[0].v_samp_factor = v;
  info.comp_info[1].h_samp_factor = info.comp_info[1].v_samp_factor = 1;
  info.comp_info[2].h_samp_factor = info.comp_info[2].v_samp_factor = 1;
  jpeg_start_compress(&info, TRUE);
  const JDIMENSION stride = static_cast<JDIMENSION>(rgb.width) * 3;
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(rgb.data.data() + info.next_scanline * stride);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::string out(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  return out;
}

}  // namespace codiff::training
