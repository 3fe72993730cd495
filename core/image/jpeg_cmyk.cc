#include "core/image/jpeg_cmyk.h"

#include <csetjmp>
#include <cstdio>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "absl/strings/str_cat.h"

namespace codiff::image {
namespace {

// libjpeg's default error handler calls exit(); this one jumps back.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnError(j_common_ptr info) {
  auto* manager = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, manager->message);
  std::longjmp(manager->jump, 1);
}

void OnWarning(j_common_ptr, int) {}

}  // namespace

absl::StatusOr<Image> DecodeJpegCmykSamples(std::string_view bytes) {
  jpeg_decompress_struct info;
  ErrorManager errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = OnError;
  errors.base.emit_message = OnWarning;
  errors.message[0] = '\0';
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
