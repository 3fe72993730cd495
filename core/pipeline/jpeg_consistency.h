// Keeps a restoration consistent with the JPEG it came from. Every 8x8 luma
// block of the original image had DCT coefficients inside the quantisation
// interval [(k - 1/2) q, (k + 1/2) q] that the JPEG records as k. Clipping the
// restoration's coefficients into those intervals is the Euclidean projection
// onto a convex set that contains the original (the DCT is orthonormal), so
// it can only bring the luma closer to the original: it removes changes the
// JPEG rules out (a restorer's drift on near-lossless inputs) and keeps every
// detail the JPEG allows (at low QF the intervals are wide).
#pragma once

#include <array>
#include <cstdint>

#include <torch/types.h>

#include "core/image/jpeg_coefficients.h"

namespace codiff::pipeline {

// restored, source: [1, 3, H, W] RGB in [0, 1]; source is the decoded JPEG on
// its own 8x8 grid (no crop, no rotation). luma_table: the JPEG's luma
// quantisation table, natural order. Only the luma (JFIF Y) changes: the same
// offset is added to R, G and B, which leaves Cb and Cr as they were. The
// quantised coefficients k come from `luma_coefficients` (the file's own, see
// jpeg_coefficients.h) when given, else from the source's pixels, which no
// longer give k where a source channel is clipped to 0 or 255: such blocks are
// then left unchanged. Blocks that reach past the image's edge always are.
torch::Tensor ProjectLumaOntoJpeg(
    const torch::Tensor& restored, const torch::Tensor& source,
    const std::array<uint16_t, 64>& luma_table,
    const image::JpegComponentCoefficients* luma_coefficients = nullptr);

// The 8x8 orthonormal DCT-II matrix JPEG uses: coefficients = D * block * D^T.
torch::Tensor JpegDctMatrix();

}  // namespace codiff::pipeline
