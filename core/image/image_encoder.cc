#include "core/image/image_encoder.h"

#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace codiff::image {

absl::StatusOr<std::string> EncodeImage(const Image& image, const EncodeOptions& options) {
  const int ch = image.channels;
  if (image.width <= 0 || image.height <= 0 || (ch != 1 && ch != 3 && ch != 4) ||
      image.data.size() != static_cast<size_t>(image.width) * image.height * ch) {
    return absl::InvalidArgumentError("cannot encode: image is empty or malformed");
  }
  std::string ext;
  std::vector<int> params;
  switch (options.format) {
    case ImageFormat::kPng:
      ext = ".png";
      // Level 3 is most of level 9's size win at a fraction of the time.
      params = {cv::IMWRITE_PNG_COMPRESSION, 3};
      break;
    case ImageFormat::kJpeg:
      if (ch == 4) {
        return absl::InvalidArgumentError(
            "cannot encode as JPEG: JPEG has no alpha channel (use PNG or WebP)");
      }
      ext = ".jpg";
      params = {cv::IMWRITE_JPEG_QUALITY, options.quality};
      break;
    case ImageFormat::kWebp:
      ext = ".webp";
      params = {cv::IMWRITE_WEBP_QUALITY, options.quality};
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot encode as ", ImageFormatName(options.format), " (supported: PNG, JPEG, WebP)"));
  }
  if (options.format != ImageFormat::kPng && (options.quality < 1 || options.quality > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("quality must be between 1 and 100, got ", options.quality));
  }

  const cv::Mat in(image.height, image.width, CV_8UC(ch), const_cast<uint8_t*>(image.data.data()));
  cv::Mat bgr;
  if (ch == 3) {
    cv::cvtColor(in, bgr, cv::COLOR_RGB2BGR);
  } else if (ch == 4) {
    cv::cvtColor(in, bgr, cv::COLOR_RGBA2BGRA);
  } else if (options.format == ImageFormat::kWebp) {
    cv::cvtColor(in, bgr, cv::COLOR_GRAY2BGR);
  } else {
    bgr = in;
  }
  std::vector<uchar> buf;
  try {
    if (!cv::imencode(ext, bgr, buf, params)) {
      return absl::InternalError(absl::StrCat("OpenCV could not encode ", ext));
    }
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("OpenCV could not encode ", ext, ": ", e.what()));
  }
  return std::string(buf.begin(), buf.end());
}

}  // namespace codiff::image
