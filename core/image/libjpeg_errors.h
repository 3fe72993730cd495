// libjpeg's default error handler calls exit(); LibjpegErrors jumps back to
// the caller's setjmp instead, keeping the message, and drops warnings
// (corrupt-data notes: what was read is kept). Use:
//
//   jpeg_decompress_struct info;
//   LibjpegErrors errors;
//   info.err = errors.Install();
//   // nothing with a destructor may live between setjmp and a longjmp to it
//   if (setjmp(errors.jump) != 0) { jpeg_destroy_decompress(&info); ... errors.message ... }
#pragma once

#include <csetjmp>
#include <cstdio>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

namespace codiff::image {

struct LibjpegErrors {
  jpeg_error_mgr base;  // first: libjpeg's info->err points here
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];

  // Fills `base` with libjpeg's defaults and these handlers; returns it for
  // info.err.
  jpeg_error_mgr* Install() {
    jpeg_error_mgr* err = jpeg_std_error(&base);
    base.error_exit = [](j_common_ptr info) {
      auto* self = reinterpret_cast<LibjpegErrors*>(info->err);
      (*info->err->format_message)(info, self->message);
      std::longjmp(self->jump, 1);
    };
    base.emit_message = [](j_common_ptr, int) {};
    message[0] = '\0';
    return err;
  }
};

}  // namespace codiff::image
