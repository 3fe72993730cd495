#include "core/image/color_profile.h"

#include <lcms2.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace codiff::image {
namespace {

struct ProfileCloser {
  void operator()(void* p) const { cmsCloseProfile(p); }
};
struct TransformCloser {
  void operator()(void* t) const { cmsDeleteTransform(t); }
};
using Profile = std::unique_ptr<void, ProfileCloser>;
using Transform = std::unique_ptr<void, TransformCloser>;

absl::StatusOr<Profile> OpenProfile(std::string_view icc) {
  if (icc.empty()) return absl::InvalidArgumentError("empty ICC profile");
  Profile p(cmsOpenProfileFromMem(icc.data(), static_cast<cmsUInt32Number>(icc.size())));
  if (!p) return absl::InvalidArgumentError("ICC profile could not be parsed");
  return p;
}

IccColorSpace SpaceOf(void* profile) {
  switch (cmsGetColorSpace(profile)) {
    case cmsSigRgbData:
      return IccColorSpace::kRgb;
    case cmsSigGrayData:
      return IccColorSpace::kGray;
    case cmsSigCmykData:
      return IccColorSpace::kCmyk;
    default:
      return IccColorSpace::kOther;
  }
}

absl::StatusOr<Transform> ToSrgb(void* from, cmsUInt32Number in_format,
                                 cmsUInt32Number out_format) {
  Profile srgb(cmsCreate_sRGBProfile());
  Transform t(cmsCreateTransform(from, in_format, srgb.get(), out_format,
                                 INTENT_RELATIVE_COLORIMETRIC, cmsFLAGS_BLACKPOINTCOMPENSATION));
  if (!t) return absl::InvalidArgumentError("ICC profile cannot convert to sRGB");
  return t;
}

// Every value of a 6x6x6 grid through the profile lands within 1 of itself.
bool BehavesAsSrgb(void* profile) {
  auto t = ToSrgb(profile, TYPE_RGB_8, TYPE_RGB_8);
  if (!t.ok()) return false;
  std::vector<uint8_t> in, out(6 * 6 * 6 * 3);
  for (int r = 0; r < 6; ++r)
    for (int g = 0; g < 6; ++g)
      for (int b = 0; b < 6; ++b) {
        for (int v : {r, g, b}) in.push_back(static_cast<uint8_t>(v * 51));
      }
  cmsDoTransform(t->get(), in.data(), out.data(), 6 * 6 * 6);
  for (size_t i = 0; i < in.size(); ++i) {
    if (std::abs(int{in[i]} - int{out[i]}) > 1) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<IccProfileInfo> ReadIccProfileInfo(std::string_view icc) {
  auto profile = OpenProfile(icc);
  if (!profile.ok()) return profile.status();
  IccProfileInfo info;
  info.color_space = SpaceOf(profile->get());
  char text[256] = {0};
  if (cmsGetProfileInfoASCII(profile->get(), cmsInfoDescription, "en", "US", text, sizeof(text)) >
      0) {
    info.description = text;
  }
  info.is_srgb = info.color_space == IccColorSpace::kRgb && BehavesAsSrgb(profile->get());
  return info;
}

absl::StatusOr<Image> ConvertRgbToSrgb(const Image& image, std::string_view icc) {
  if (image.channels != 3 && image.channels != 4) {
    return absl::FailedPreconditionError(
        absl::StrCat("sRGB conversion needs 3 or 4 channels, got ", image.channels));
  }
  auto profile = OpenProfile(icc);
  if (!profile.ok()) return profile.status();
  if (SpaceOf(profile->get()) != IccColorSpace::kRgb) {
    return absl::FailedPreconditionError("sRGB conversion needs an RGB profile");
  }
  const bool alpha = image.channels == 4;
  // Alpha passes through untouched (copied by lcms2's extra-channel handling).
  const cmsUInt32Number format = alpha ? TYPE_RGBA_8 : TYPE_RGB_8;
  Profile srgb(cmsCreate_sRGBProfile());
  Transform t(
      cmsCreateTransform(profile->get(), format, srgb.get(), format, INTENT_RELATIVE_COLORIMETRIC,
                         cmsFLAGS_BLACKPOINTCOMPENSATION | (alpha ? cmsFLAGS_COPY_ALPHA : 0)));
  if (!t) return absl::InvalidArgumentError("ICC profile cannot convert to sRGB");
  Image out(image.width, image.height, image.channels);
  for (int y = 0; y < image.height; ++y) {
    cmsDoTransform(t.get(), image.data.data() + image.index(0, y),
                   out.data.data() + out.index(0, y), static_cast<cmsUInt32Number>(image.width));
  }
  return out;
}

absl::StatusOr<Image> ConvertCmykToSrgb(const Image& cmyk, bool inverted, std::string_view icc) {
  if (cmyk.channels != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("CMYK conversion needs 4 channels, got ", cmyk.channels));
  }
  Image out(cmyk.width, cmyk.height, 3);
  if (icc.empty()) {
    const size_t pixels = static_cast<size_t>(cmyk.width) * cmyk.height;
    for (size_t i = 0; i < pixels; ++i) {
      const uint8_t* p = &cmyk.data[i * 4];
      const int k = inverted ? p[3] : 255 - p[3];
      for (int c = 0; c < 3; ++c) {
        const int v = inverted ? p[c] : 255 - p[c];
        out.data[i * 3 + c] = static_cast<uint8_t>((v * k + 127) / 255);
      }
    }
    return out;
  }
  auto profile = OpenProfile(icc);
  if (!profile.ok()) return profile.status();
  if (SpaceOf(profile->get()) != IccColorSpace::kCmyk) {
    return absl::InvalidArgumentError("the CMYK image's ICC profile is not a CMYK profile");
  }
  auto t = ToSrgb(profile->get(), inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8, TYPE_RGB_8);
  if (!t.ok()) return t.status();
  for (int y = 0; y < cmyk.height; ++y) {
    cmsDoTransform(t->get(), cmyk.data.data() + cmyk.index(0, y), out.data.data() + out.index(0, y),
                   static_cast<cmsUInt32Number>(cmyk.width));
  }
  return out;
}

absl::StatusOr<double> MeanDeltaE76(const Image& a, const Image& b) {
  if (a.channels != 3 || b.channels != 3 || a.width != b.width || a.height != b.height ||
      a.data.empty()) {
    return absl::InvalidArgumentError("MeanDeltaE76 needs two RGB images of the same size");
  }
  Profile srgb(cmsCreate_sRGBProfile());
  Profile lab(cmsCreateLab4Profile(nullptr));
  Transform t(cmsCreateTransform(srgb.get(), TYPE_RGB_8, lab.get(), TYPE_Lab_DBL,
                                 INTENT_RELATIVE_COLORIMETRIC, 0));
  if (!t) return absl::InternalError("lcms2 could not make an sRGB to Lab transform");
  const size_t pixels = static_cast<size_t>(a.width) * a.height;
  std::vector<cmsCIELab> la(a.width), lb(a.width);
  double sum = 0;
  for (int y = 0; y < a.height; ++y) {
    cmsDoTransform(t.get(), a.data.data() + a.index(0, y), la.data(),
                   static_cast<cmsUInt32Number>(a.width));
    cmsDoTransform(t.get(), b.data.data() + b.index(0, y), lb.data(),
                   static_cast<cmsUInt32Number>(b.width));
    for (int x = 0; x < a.width; ++x) sum += cmsDeltaE(&la[x], &lb[x]);
  }
  return sum / static_cast<double>(pixels);
}

}  // namespace codiff::image
