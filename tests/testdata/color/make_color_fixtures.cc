// Makes the colour-profile and metadata test data of tests/testdata/color:
//   codiff-color-fixtures SOURCE.png OUT_DIR [exiftool]
// A 160x160 crop of SOURCE (sRGB) re-encoded in Display P3, Adobe RGB
// (1998) and ProPhoto RGB (profiles built with lcms2 from the published
// primaries, white points and transfer curves) and in CMYK (a LUT profile
// built here from a simple ink model), each compressed by libjpeg at QF 30
// with the profile embedded through libjpeg's own jpeg_write_icc_profile;
// next to each JPEG, the lossless encoded values converted back to sRGB
// (the reference its restoration is measured against). metadata.jpg is the
// Adobe RGB file with camera, date, GPS, copyright, XMP and IPTC written by
// exiftool (orientation 6). Run by hand; the outputs are committed.
#include <lcms2.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace {

constexpr int kSide = 160;
constexpr int kQuality = 30;

std::vector<uint8_t> SaveProfile(cmsHPROFILE p) {
  cmsUInt32Number size = 0;
  cmsSaveProfileToMem(p, nullptr, &size);
  std::vector<uint8_t> bytes(size);
  cmsSaveProfileToMem(p, bytes.data(), &size);
  return bytes;
}

void Describe(cmsHPROFILE p, const char* text) {
  cmsMLU* mlu = cmsMLUalloc(nullptr, 1);
  cmsMLUsetASCII(mlu, "en", "US", text);
  cmsWriteTag(p, cmsSigProfileDescriptionTag, mlu);
  cmsMLUsetASCII(mlu, "en", "US", "No copyright, test data made with lcms2");
  cmsWriteTag(p, cmsSigCopyrightTag, mlu);
  cmsMLUfree(mlu);
}

cmsHPROFILE RgbProfile(const char* name, cmsCIExyY white, cmsCIExyYTRIPLE primaries,
                       cmsToneCurve* curve) {
  cmsToneCurve* curves[3] = {curve, curve, curve};
  cmsHPROFILE p = cmsCreateRGBProfile(&white, &primaries, curves);
  cmsSetProfileVersion(p, 2.1);
  Describe(p, name);
  cmsFreeToneCurve(curve);
  return p;
}

// A CMYK output profile from R = (1 - C)(1 - K) (and G, B alike) in sRGB:
// crude as a press model, but a real LUT-based CMYK profile, which is what
// the decoder has to handle.
cmsHPROFILE CmykProfile() {
  cmsHPROFILE srgb = cmsCreate_sRGBProfile();
  cmsHPROFILE lab = cmsCreateLab4Profile(nullptr);
  cmsHTRANSFORM to_lab = cmsCreateTransform(srgb, TYPE_RGB_DBL, lab, TYPE_Lab_DBL,
                                            INTENT_RELATIVE_COLORIMETRIC, cmsFLAGS_NOCACHE);
  cmsHTRANSFORM to_rgb = cmsCreateTransform(lab, TYPE_Lab_DBL, srgb, TYPE_RGB_DBL,
                                            INTENT_RELATIVE_COLORIMETRIC, cmsFLAGS_NOCACHE);
  struct Cargo {
    cmsHTRANSFORM to_lab, to_rgb;
  } cargo{to_lab, to_rgb};
  cmsHPROFILE p = cmsCreateProfilePlaceholder(nullptr);
  cmsSetProfileVersion(p, 4.3);
  cmsSetDeviceClass(p, cmsSigOutputClass);
  cmsSetColorSpace(p, cmsSigCmykData);
  cmsSetPCS(p, cmsSigLabData);
  cmsWriteTag(p, cmsSigMediaWhitePointTag, cmsD50_XYZ());

  cmsPipeline* a2b = cmsPipelineAlloc(nullptr, 4, 3);
  cmsStage* forward = cmsStageAllocCLut16bit(nullptr, 9, 4, 3, nullptr);
  cmsStageSampleCLut16bit(
      forward,
      [](const cmsUInt16Number in[], cmsUInt16Number out[], void* data) -> cmsInt32Number {
        const auto* c = static_cast<Cargo*>(data);
        double rgb[3];
        const double k = in[3] / 65535.0;
        for (int i = 0; i < 3; ++i) rgb[i] = (1.0 - in[i] / 65535.0) * (1.0 - k);
        cmsCIELab lab;
        cmsDoTransform(c->to_lab, rgb, &lab, 1);
        cmsFloat2LabEncoded(out, &lab);
        return TRUE;
      },
      &cargo, 0);
  // v4 lutAtoBType needs curves around the CLUT (identity here).
  cmsPipelineInsertStage(a2b, cmsAT_END, cmsStageAllocToneCurves(nullptr, 4, nullptr));
  cmsPipelineInsertStage(a2b, cmsAT_END, forward);
  cmsPipelineInsertStage(a2b, cmsAT_END, cmsStageAllocToneCurves(nullptr, 3, nullptr));
  cmsWriteTag(p, cmsSigAToB0Tag, a2b);

  cmsPipeline* b2a = cmsPipelineAlloc(nullptr, 3, 4);
  cmsStage* inverse = cmsStageAllocCLut16bit(nullptr, 17, 3, 4, nullptr);
  cmsStageSampleCLut16bit(
      inverse,
      [](const cmsUInt16Number in[], cmsUInt16Number out[], void* data) -> cmsInt32Number {
        const auto* c = static_cast<Cargo*>(data);
        cmsCIELab lab;
        cmsLabEncoded2Float(&lab, in);
        double rgb[3];
        cmsDoTransform(c->to_rgb, &lab, rgb, 1);
        double cmy[3], k = 1.0;
        for (int i = 0; i < 3; ++i) {
          cmy[i] = 1.0 - std::min(1.0, std::max(0.0, rgb[i]));
          k = std::min(k, cmy[i]);
        }
        for (int i = 0; i < 3; ++i) {
          const double v = k < 1.0 ? (cmy[i] - k) / (1.0 - k) : 0.0;
          out[i] = static_cast<cmsUInt16Number>(v * 65535.0 + 0.5);
        }
        out[3] = static_cast<cmsUInt16Number>(k * 65535.0 + 0.5);
        return TRUE;
      },
      &cargo, 0);
  cmsPipelineInsertStage(b2a, cmsAT_END, cmsStageAllocToneCurves(nullptr, 3, nullptr));
  cmsPipelineInsertStage(b2a, cmsAT_END, inverse);
  cmsPipelineInsertStage(b2a, cmsAT_END, cmsStageAllocToneCurves(nullptr, 4, nullptr));
  cmsWriteTag(p, cmsSigBToA0Tag, b2a);
  Describe(p, "codiff test CMYK (simple ink model)");
  const std::vector<uint8_t> bytes = SaveProfile(p);
  cmsCloseProfile(p);
  cmsPipelineFree(a2b);
  cmsPipelineFree(b2a);
  cmsDeleteTransform(to_lab);
  cmsDeleteTransform(to_rgb);
  cmsCloseProfile(srgb);
  cmsCloseProfile(lab);
  if (bytes.empty()) std::exit(1);
  return cmsOpenProfileFromMem(bytes.data(), static_cast<cmsUInt32Number>(bytes.size()));
}

void WriteJpeg(const std::string& path, const std::vector<uint8_t>& pixels, int components,
               const std::vector<uint8_t>& icc) {
  jpeg_compress_struct info;
  jpeg_error_mgr errors;
  info.err = jpeg_std_error(&errors);
  jpeg_create_compress(&info);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::exit(1);
  jpeg_stdio_dest(&info, f);
  info.image_width = kSide;
  info.image_height = kSide;
  info.input_components = components;
  info.in_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, kQuality, TRUE);
  if (components == 4) info.write_Adobe_marker = TRUE;
  jpeg_start_compress(&info, TRUE);
  if (!icc.empty()) jpeg_write_icc_profile(&info, icc.data(), static_cast<unsigned>(icc.size()));
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + info.next_scanline * kSide * components);
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  std::fclose(f);
}

void WritePngRgb(const std::string& path, const std::vector<uint8_t>& rgb) {
  cv::Mat m(kSide, kSide, CV_8UC3, const_cast<uint8_t*>(rgb.data())), bgr;
  cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
  cv::imwrite(path, bgr);
}

// Encodes the sRGB crop in `profile` (relative colorimetric, 8-bit),
// writes NAME_q30.jpg with it embedded and NAME_reference.png (the 8-bit
// encoded values back in sRGB).
void Make(const std::string& dir, const std::string& name, const std::vector<uint8_t>& srgb_pixels,
          cmsHPROFILE profile, bool cmyk) {
  cmsHPROFILE srgb = cmsCreate_sRGBProfile();
  const cmsUInt32Number device = cmyk ? TYPE_CMYK_8 : TYPE_RGB_8;
  cmsHTRANSFORM in =
      cmsCreateTransform(srgb, TYPE_RGB_8, profile, device, INTENT_RELATIVE_COLORIMETRIC, 0);
  cmsHTRANSFORM out =
      cmsCreateTransform(profile, device, srgb, TYPE_RGB_8, INTENT_RELATIVE_COLORIMETRIC, 0);
  const int n = kSide * kSide, c = cmyk ? 4 : 3;
  std::vector<uint8_t> encoded(static_cast<size_t>(n) * c), back(static_cast<size_t>(n) * 3);
  cmsDoTransform(in, srgb_pixels.data(), encoded.data(), n);
  cmsDoTransform(out, encoded.data(), back.data(), n);
  std::vector<uint8_t> stored = encoded;
  if (cmyk) {
    for (auto& v : stored) v = static_cast<uint8_t>(255 - v);  // Adobe: 0 = full ink
  }
  const std::vector<uint8_t> icc = SaveProfile(profile);
  std::ofstream(dir + "/" + name + ".icc", std::ios::binary)
      .write(reinterpret_cast<const char*>(icc.data()), static_cast<std::streamsize>(icc.size()));
  WriteJpeg(dir + "/" + name + "_q30.jpg", stored, c, icc);
  WritePngRgb(dir + "/" + name + "_reference.png", back);
  cmsDeleteTransform(in);
  cmsDeleteTransform(out);
  cmsCloseProfile(srgb);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SOURCE.png OUT_DIR [exiftool]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[2];
  cv::Mat source = cv::imread(argv[1], cv::IMREAD_COLOR);
  if (source.empty() || source.cols < kSide || source.rows < kSide) return 1;
  cv::Mat crop =
              source(cv::Rect((source.cols - kSide) / 2, (source.rows - kSide) / 2, kSide, kSide))
                  .clone(),
          rgb;
  cv::cvtColor(crop, rgb, cv::COLOR_BGR2RGB);
  std::vector<uint8_t> pixels(rgb.data, rgb.data + kSide * kSide * 3);
  cv::imwrite(dir + "/original.png", crop);
  WriteJpeg(dir + "/srgb_q30.jpg", pixels, 3, {});

  const cmsCIExyY d65 = {0.3127, 0.3290, 1.0}, d50 = {0.3457, 0.3585, 1.0};
  const cmsFloat64Number srgb_curve[5] = {2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045};
  cmsHPROFILE p3 =
      RgbProfile("Display P3", d65, {{0.680, 0.320, 1}, {0.265, 0.690, 1}, {0.150, 0.060, 1}},
                 cmsBuildParametricToneCurve(nullptr, 4, srgb_curve));
  cmsHPROFILE adobe =
      RgbProfile("Adobe RGB (1998)", d65, {{0.64, 0.33, 1}, {0.21, 0.71, 1}, {0.15, 0.06, 1}},
                 cmsBuildGamma(nullptr, 563.0 / 256.0));
  cmsHPROFILE prophoto = RgbProfile("ProPhoto RGB", d50,
                                    {{0.7347, 0.2653, 1}, {0.1596, 0.8404, 1}, {0.0366, 0.0001, 1}},
                                    cmsBuildGamma(nullptr, 1.8));
  Make(dir, "p3", pixels, p3, false);
  Make(dir, "adobergb", pixels, adobe, false);
  Make(dir, "prophoto", pixels, prophoto, false);
  cmsHPROFILE cmyk = CmykProfile();
  Make(dir, "cmyk", pixels, cmyk, true);
  for (cmsHPROFILE p : {p3, adobe, prophoto, cmyk}) cmsCloseProfile(p);

  if (argc > 3) {
    const std::string cmd = std::string(argv[3]) + " -q -o " + dir +
                            "/metadata.jpg -Make=CodiffTestCam -Model=\"Model 7\""
                            " -DateTimeOriginal=\"2024:05:06 07:08:09\" -GPSLatitude=48.8566"
                            " -GPSLatitudeRef=N -GPSLongitude=2.3522 -GPSLongitudeRef=E"
                            " -Copyright=\"(c) Codiff Test Photographer\" -Orientation#=6"
                            " -XMP-dc:Creator=\"Codiff Test Photographer\""
                            " -IPTC:Keywords=restoration -IPTC:City=Paris " +
                            dir + "/adobergb_q30.jpg";
    if (std::system(cmd.c_str()) != 0) return 1;
  }
  return 0;
}
