#include "core/pipeline/jpeg_consistency.h"

#include <cstdio>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "core/image/jpeg_coefficients.h"
#include "core/image/jpeg_header.h"
#include "core/pipeline/image_tensor.h"

namespace codiff::pipeline {
namespace {

// A smooth, textured colour image in [0.15, 0.85]: nothing clips.
torch::Tensor Photo(int64_t height, int64_t width) {
  const torch::Tensor y = torch::linspace(0, 1, height).view({height, 1});
  const torch::Tensor x = torch::linspace(0, 1, width).view({1, width});
  const torch::Tensor r = 0.5 + 0.3 * torch::sin(9 * x + 4 * y);
  const torch::Tensor g = 0.5 + 0.3 * torch::cos(7 * y - 3 * x) * torch::sin(20 * x);
  const torch::Tensor b = 0.5 + 0.3 * torch::sin(30 * x * y + 2);
  return torch::stack({r, g, b}).unsqueeze(0).to(torch::kFloat32);
}

struct Jpeg {
  torch::Tensor decoded;
  std::array<uint16_t, 64> luma_table;
  std::shared_ptr<const image::JpegComponentCoefficients> coefficients;
};

Jpeg Compress(const torch::Tensor& image, int quality) {
  image::EncodeOptions options;
  options.format = image::ImageFormat::kJpeg;
  options.quality = quality;
  const image::DecodedImage d =
      *image::DecodeImage(*image::EncodeImage(*TensorToImage(image), options));
  return {ImageToTensor(d.rgb), *d.jpeg_luma_table, d.jpeg_luma_coefficients};
}

torch::Tensor Luma(const torch::Tensor& rgb) {
  return rgb[0][0] * 0.299 + rgb[0][1] * 0.587 + rgb[0][2] * 0.114;
}

double LumaMse(const torch::Tensor& a, const torch::Tensor& b) {
  return (Luma(a) - Luma(b)).pow(2).mean().item<double>();
}

TEST(JpegConsistencyTest, DctIsOrthonormal) {
  const torch::Tensor d = JpegDctMatrix();
  EXPECT_TRUE(torch::allclose(torch::matmul(d, d.t()), torch::eye(8, torch::kFloat64)));
  // Row 0 is the DC basis: 1 / sqrt(8) everywhere.
  EXPECT_NEAR(d[0][3].item<double>(), 1.0 / std::sqrt(8.0), 1e-12);
}

TEST(JpegConsistencyTest, TheJpegItselfIsAFixedPoint) {
  const Jpeg jpeg = Compress(Photo(64, 96), 50);
  const torch::Tensor out = ProjectLumaOntoJpeg(jpeg.decoded, jpeg.decoded, jpeg.luma_table);
  EXPECT_LT((out - jpeg.decoded).abs().max().item<double>(), 1e-6);
}

TEST(JpegConsistencyTest, BringsLumaCloserAndKeepsChroma) {
  torch::manual_seed(5);
  const torch::Tensor original = Photo(64, 96);
  // QF 90: quantisation steps of 3..10 luma levels, far below the noise.
  const Jpeg jpeg = Compress(original, 90);
  // A "restoration" that wandered off: the original plus strong noise, kept
  // inside (0, 1) so no clamping hides the arithmetic.
  const torch::Tensor wandered = (original + 0.08 * torch::randn_like(original)).clamp(0.02, 0.98);
  const torch::Tensor out = ProjectLumaOntoJpeg(wandered, jpeg.decoded, jpeg.luma_table);
  const double before = LumaMse(wandered, original), after = LumaMse(out, original);
  EXPECT_LT(after, 0.5 * before) << before << " -> " << after;
  // Only luma moved: the same offset on R, G and B.
  const torch::Tensor delta = out - wandered;
  const torch::Tensor unclamped = (out > 0) & (out < 1);
  const torch::Tensor all_unclamped = unclamped.all(1);
  EXPECT_LT((delta[0][0] - delta[0][1]).masked_select(all_unclamped[0]).abs().max().item<double>(),
            1e-5);
  EXPECT_LT((delta[0][0] - delta[0][2]).masked_select(all_unclamped[0]).abs().max().item<double>(),
            1e-5);
  // A projection: doing it again changes next to nothing (the final clamp to
  // [0, 1] moves a few pixels back out of their intervals).
  const torch::Tensor again = ProjectLumaOntoJpeg(out, jpeg.decoded, jpeg.luma_table);
  EXPECT_LT((again - out).abs().mean().item<double>(),
            0.02 * (out - wandered).abs().mean().item<double>());
}

TEST(JpegConsistencyTest, LeavesEdgeAndSaturatedBlocksAlone) {
  torch::manual_seed(6);
  torch::Tensor original = Photo(44, 60);             // 5 x 7 whole blocks, then 4 px strips
  original.slice(2, 0, 8).slice(3, 0, 8).fill_(1.0);  // one saturated block
  const Jpeg jpeg = Compress(original, 20);
  const torch::Tensor wandered = (original + 0.08 * torch::randn_like(original)).clamp(0.0, 1.0);
  const torch::Tensor out = ProjectLumaOntoJpeg(wandered, jpeg.decoded, jpeg.luma_table);
  EXPECT_TRUE(torch::equal(out.slice(2, 40), wandered.slice(2, 40)));
  EXPECT_TRUE(torch::equal(out.slice(3, 56), wandered.slice(3, 56)));
  EXPECT_TRUE(
      torch::equal(out.slice(2, 0, 8).slice(3, 0, 8), wandered.slice(2, 0, 8).slice(3, 0, 8)));
  EXPECT_FALSE(
      torch::equal(out.slice(2, 8, 40).slice(3, 0, 56), wandered.slice(2, 8, 40).slice(3, 0, 56)));
  EXPECT_ANY_THROW(ProjectLumaOntoJpeg(wandered, jpeg.decoded.slice(2, 0, 40), jpeg.luma_table));
}

TEST(JpegConsistencyTest, TheFileCoefficientsAgreeWithThePixelsWhereNothingClips) {
  torch::manual_seed(7);
  const torch::Tensor original = Photo(64, 96);
  const Jpeg jpeg = Compress(original, 30);
  ASSERT_NE(jpeg.coefficients, nullptr);
  EXPECT_EQ(jpeg.coefficients->blocks_wide, 12);
  EXPECT_EQ(jpeg.coefficients->blocks_high, 8);
  const torch::Tensor wandered = (original + 0.05 * torch::randn_like(original)).clamp(0.02, 0.98);
  const torch::Tensor from_pixels = ProjectLumaOntoJpeg(wandered, jpeg.decoded, jpeg.luma_table);
  const torch::Tensor from_file =
      ProjectLumaOntoJpeg(wandered, jpeg.decoded, jpeg.luma_table, jpeg.coefficients.get());
  EXPECT_LT((from_file - from_pixels).abs().max().item<double>(), 1e-6);
}

TEST(JpegConsistencyTest, TheFileCoefficientsAlsoProjectSaturatedBlocks) {
  torch::manual_seed(8);
  torch::Tensor original = Photo(48, 64);
  // Specular highlights: a white 2x2 dot in every block of the top 16 rows,
  // which the decoder clips at 255, so the pixels no longer give k there.
  for (int64_t y = 3; y < 16; y += 8) {
    for (int64_t x = 3; x < 64; x += 8) original.slice(2, y, y + 2).slice(3, x, x + 2).fill_(1.0);
  }
  const Jpeg jpeg = Compress(original, 90);
  const torch::Tensor wandered = (original + 0.08 * torch::randn_like(original)).clamp(0.0, 1.0);
  const torch::Tensor from_pixels = ProjectLumaOntoJpeg(wandered, jpeg.decoded, jpeg.luma_table);
  const torch::Tensor from_file =
      ProjectLumaOntoJpeg(wandered, jpeg.decoded, jpeg.luma_table, jpeg.coefficients.get());
  auto top_mse = [&](const torch::Tensor& t) {
    return LumaMse(t.slice(2, 0, 16), original.slice(2, 0, 16));
  };
  std::printf("[ coefs    ] top rows luma MSE: wandered %.3e, from pixels %.3e, from file %.3e\n",
              top_mse(wandered), top_mse(from_pixels), top_mse(from_file));
  // From pixels the highlight blocks stay as they were; from the file they
  // are projected like every other block.
  EXPECT_GT(top_mse(from_pixels), 0.9 * top_mse(wandered));
  EXPECT_LT(top_mse(from_file), 0.6 * top_mse(wandered));
  EXPECT_LE(LumaMse(from_file, original), LumaMse(from_pixels, original));
}

TEST(JpegCoefficientsTest, UnreadableFilesAreErrorsNotCrashes) {
  for (const std::string& bytes : {std::string(), std::string("not a jpeg at all"),
                                   std::string("\xff\xd8\xff\xdb\x00\x43", 6)}) {
    auto r = image::ReadFirstComponentCoefficients(bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("libjpeg"), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace codiff::pipeline
