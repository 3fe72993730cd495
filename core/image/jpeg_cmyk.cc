#include "core/image/jpeg_cmyk.h"

#include <csetjmp>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "core/image/libjpeg_errors.h"

namespace codiff::image {

absl::StatusOr<Image> DecodeJpegCmykSamples(std::string_view bytes) {
  jpeg_decompress_struct info;
  LibjpegErrors errors;
  info.err = errors.Install();
  // Nothing with a destructor may be created between setjmp and a longjmp
  // to it: the image is allocated before, and sized after the header.
  Image out;
  bool four_components = true;
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&info);
    return absl::InvalidArgumentError(absl::StrCat("libjpeg: ", errors.message));
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  four_components = info.num_components == 4 &&
                    (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK);
  if (four_components) {
    info.out_color_space = JCS_CMYK;
    jpeg_start_decompress(&info);
    out.width = static_cast<int>(info.output_width);
    out.height = static_cast<int>(info.output_height);
    out.channels = 4;
    out.data.resize(static_cast<size_t>(out.width) * out.height * 4);
    while (info.output_scanline < info.output_height) {
      JSAMPROW row = out.data.data() + out.index(0, static_cast<int>(info.output_scanline));
      jpeg_read_scanlines(&info, &row, 1);
    }
    jpeg_finish_decompress(&info);
  }
  jpeg_destroy_decompress(&info);
  if (!four_components) return absl::InvalidArgumentError("not a CMYK or YCCK JPEG");
  return out;
}

}  // namespace codiff::image
