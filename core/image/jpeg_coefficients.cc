#include "core/image/jpeg_coefficients.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/image/libjpeg_errors.h"

namespace codiff::image {

absl::StatusOr<JpegComponentCoefficients> ReadFirstComponentCoefficients(std::string_view bytes) {
  jpeg_decompress_struct info;
  LibjpegErrors errors;
  info.err = errors.Install();
  // Nothing with a destructor may live between setjmp and a longjmp to it.
  JpegComponentCoefficients out;
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&info);
    return absl::InvalidArgumentError(absl::StrCat("libjpeg: ", errors.message));
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  jvirt_barray_ptr* arrays = jpeg_read_coefficients(&info);
  const jpeg_component_info& component = info.comp_info[0];
  out.blocks_wide = static_cast<int>(component.width_in_blocks);
  out.blocks_high = static_cast<int>(component.height_in_blocks);
  out.values.resize(static_cast<size_t>(out.blocks_wide) * out.blocks_high * DCTSIZE2);
  for (int row = 0; row < out.blocks_high; ++row) {
    JBLOCKARRAY blocks = (*info.mem->access_virt_barray)(
        reinterpret_cast<j_common_ptr>(&info), arrays[0], static_cast<JDIMENSION>(row), 1, FALSE);
    std::memcpy(&out.values[static_cast<size_t>(row) * out.blocks_wide * DCTSIZE2], blocks[0],
                sizeof(JCOEF) * DCTSIZE2 * out.blocks_wide);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return out;
}

}  // namespace codiff::image
