#include "core/image/image_metadata.h"

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/test_support.h"

namespace codiff::image {
namespace {

using Bytes = std::string;

// --- Test data -------------------------------------------------------------

cv::Mat TestPattern(int channels, int rows = 24, int cols = 40) {
  cv::Mat m(rows, cols, CV_8UC(channels));
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      for (int c = 0; c < channels; ++c) {
        m.ptr<uint8_t>(y)[x * channels + c] =
            static_cast<uint8_t>((x * 5 + y * 3 + c * 70 + ((x * y) % 5) * 11) & 255);
      }
    }
  }
  return m;
}

Bytes Encode(const std::string& ext, const cv::Mat& m, const std::vector<int>& params = {}) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf, params)) << ext;
  return Bytes(buf.begin(), buf.end());
}

// IMREAD_UNCHANGED: keeps alpha and applies no EXIF orientation, so the
// pixels compare as stored.
cv::Mat Decode(const Bytes& bytes) {
  const cv::Mat wrapped(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
  return cv::imdecode(wrapped, cv::IMREAD_UNCHANGED);
}

void ExpectSamePixels(const cv::Mat& a, const cv::Mat& b) {
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  ASSERT_EQ(a.size(), b.size());
  ASSERT_EQ(a.type(), b.type());
  EXPECT_EQ(cv::norm(a, b, cv::NORM_INF), 0.0);
}

void PutU16(Bytes* b, uint32_t v, bool be) {
  b->push_back(static_cast<char>(be ? v >> 8 : v & 0xFF));
  b->push_back(static_cast<char>(be ? v & 0xFF : v >> 8));
}

void PutU32(Bytes* b, uint32_t v, bool be) {
  for (int i = 0; i < 4; ++i) b->push_back(static_cast<char>(v >> (be ? 24 - 8 * i : 8 * i)));
}

uint32_t GetU16(const Bytes& b, size_t at, bool be) {
  const uint32_t x = static_cast<uint8_t>(b[at]), y = static_cast<uint8_t>(b[at + 1]);
  return be ? (x << 8) | y : (y << 8) | x;
}

uint32_t GetU32(const Bytes& b, size_t at, bool be) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + (be ? i : 3 - i)]);
  return v;
}

// TIFF with IFD0 holding Make (ASCII, stored after the IFD) and Orientation.
Bytes MakeTiff(bool be, int orientation, const std::string& make = "TestCam") {
  Bytes t = be ? Bytes("MM\0*", 4) : Bytes("II*\0", 4);
  PutU32(&t, 8, be);
  PutU16(&t, 2, be);  // Entries, sorted by tag.
  const uint32_t make_offset = 8 + 2 + 2 * 12 + 4;
  PutU16(&t, 0x010F, be);
  PutU16(&t, 2, be);
  PutU32(&t, static_cast<uint32_t>(make.size() + 1), be);
  PutU32(&t, make_offset, be);
  PutU16(&t, 0x0112, be);
  PutU16(&t, 3, be);
  PutU32(&t, 1, be);
  PutU16(&t, static_cast<uint32_t>(orientation), be);
  PutU16(&t, 0, be);
  PutU32(&t, 0, be);  // No IFD1.
  t += make;
  t.push_back('\0');
  return t;
}

// IFD0's Orientation, read independently of the code under test.
int TiffOrientation(const Bytes& t) {
  const bool be = t[0] == 'M';
  const uint32_t ifd = GetU32(t, 4, be);
  for (uint32_t i = 0; i < GetU16(t, ifd, be); ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (GetU16(t, e, be) == 0x0112) return static_cast<int>(GetU16(t, e + 8, be));
  }
  return 0;
}

// Profile-shaped bytes (a header libpng accepts, no tags) filled with a
// pattern, `size` bytes long.
Bytes FakeIcc(size_t size) {
  Bytes icc(size, '\0');
  for (size_t i = 132; i < size; ++i) icc[i] = static_cast<char>((i * 7 + i / 251) & 0xFF);
  Bytes header;
  PutU32(&header, static_cast<uint32_t>(size), true);
  icc.replace(0, 4, header);
  icc.replace(8, 4, Bytes("\x02\x10\0\0", 4));
  icc.replace(12, 12, "mntrRGB XYZ ");
  icc.replace(36, 4, "acsp");
  icc.replace(68, 12, Bytes("\0\0\xF6\xD6\0\1\0\0\0\0\xD3\x2D", 12));  // D50.
  return icc;
}

const char kXmp[] =
    "<?xpacket begin='' id='W5M0MpCehiHzreSzNTczkc9d'?>"
    "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF "
    "xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'><rdf:Description rdf:about='' "
    "xmlns:xmp='http://ns.adobe.com/xap/1.0/'><xmp:CreatorTool>codiff test</xmp:CreatorTool>"
    "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end='w'?>";

// One 8BIM resource 0x0404 (IPTC-NAA) holding dataset 2:05 ObjectName.
Bytes MakeIptc(const std::string& object_name = "Restored") {
  Bytes record("\x1C\x02\x05", 3);
  PutU16(&record, static_cast<uint32_t>(object_name.size()), true);
  record += object_name;
  Bytes r = "8BIM";
  PutU16(&r, 0x0404, true);
  r.append(2, '\0');  // Empty Pascal name, padded to even.
  PutU32(&r, static_cast<uint32_t>(record.size()), true);
  r += record;
  if (record.size() & 1) r.push_back('\0');
  return r;
}

ImageMetadata FullMetadata(bool big_endian, size_t icc_size = 200 * 1024) {
  ImageMetadata m;
  m.icc = FakeIcc(icc_size);
  m.exif = MakeTiff(big_endian, 6);
  m.xmp = kXmp;
  m.iptc = MakeIptc();
  return m;
}

Bytes MustEmbed(const Bytes& encoded, ImageFormat format, const ImageMetadata& m,
                std::vector<std::string>* notes = nullptr) {
  auto out = EmbedImageMetadata(encoded, format, m, notes);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : Bytes();
}

bool AnyNoteContains(const std::vector<std::string>& notes, const std::string& text) {
  for (const std::string& n : notes) {
    if (n.find(text) != std::string::npos) return true;
  }
  return false;
}

std::string JoinNotes(const std::vector<std::string>& notes) {
  std::string all;
  for (const std::string& n : notes) all += n + "\n";
  return all;
}

// --- Container helpers for hand-built inputs ------------------------------

struct JpegSegment {
  size_t offset;  // Of the 0xFF.
  size_t size;    // Marker, length field and payload.
  int marker;
};

std::vector<JpegSegment> JpegSegments(const Bytes& f) {
  std::vector<JpegSegment> out;
  size_t pos = 2;
  while (pos + 4 <= f.size() && static_cast<uint8_t>(f[pos]) == 0xFF) {
    const int marker = static_cast<uint8_t>(f[pos + 1]);
    if (marker == 0xDA) break;
    const size_t len = GetU16(f, pos + 2, true);
    out.push_back({pos, len + 2, marker});
    pos += len + 2;
  }
  return out;
}

std::vector<JpegSegment> App2Segments(const Bytes& f) {
  std::vector<JpegSegment> out;
  for (const JpegSegment& s : JpegSegments(f)) {
    if (s.marker == 0xE2) out.push_back(s);
  }
  return out;
}

Bytes PngChunk(const std::string& type, const Bytes& data) {
  Bytes c;
  PutU32(&c, static_cast<uint32_t>(data.size()), true);
  c += type + data;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(type.data()), 4);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  PutU32(&c, static_cast<uint32_t>(crc), true);
  return c;
}

// `chunk` inserted right after IHDR.
Bytes WithPngChunk(const Bytes& png, const Bytes& chunk) {
  return png.substr(0, 33) + chunk + png.substr(33);
}

Bytes Zlib(const Bytes& data) {
  uLongf size = compressBound(data.size());
  Bytes out(size, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                      reinterpret_cast<const Bytef*>(data.data()), data.size(), 9),
            Z_OK);
  out.resize(size);
  return out;
}

Bytes Unzlib(const Bytes& data) {
  Bytes out(1 << 20, '\0');
  uLongf size = out.size();
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(out.data()), &size,
                       reinterpret_cast<const Bytef*>(data.data()), data.size()),
            Z_OK);
  out.resize(size);
  return out;
}

struct PngChunkView {
  std::string type;
  Bytes data;
};

std::vector<PngChunkView> PngChunks(const Bytes& f) {
  std::vector<PngChunkView> out;
  size_t pos = 8;
  while (pos + 12 <= f.size()) {
    const uint32_t len = GetU32(f, pos, true);
    out.push_back({f.substr(pos + 4, 4), f.substr(pos + 8, len)});
    pos += 12 + len;
  }
  return out;
}

struct RiffChunkView {
  std::string fourcc;
  Bytes data;
};

std::vector<RiffChunkView> RiffChunks(const Bytes& f) {
  std::vector<RiffChunkView> out;
  size_t pos = 12;
  while (pos + 8 <= f.size()) {
    const uint32_t len = GetU32(f, pos + 4, false);
    out.push_back({f.substr(pos, 4), f.substr(pos + 8, len)});
    pos += 8 + len + (len & 1);
  }
  return out;
}

Bytes RiffChunk(const std::string& fourcc, const Bytes& data) {
  Bytes c = fourcc;
  PutU32(&c, static_cast<uint32_t>(data.size()), false);
  c += data;
  if (data.size() & 1) c.push_back('\0');
  return c;
}

// A simple WebP with `chunk` appended and the RIFF size fixed.
Bytes WithRiffChunk(const Bytes& webp, const Bytes& chunk) {
  Bytes out = webp + chunk;
  Bytes size;
  PutU32(&size, static_cast<uint32_t>(out.size() - 8), false);
  out.replace(4, 4, size);
  return out;
}

// --- Round trips -----------------------------------------------------------

struct Case {
  const char* name;
  const char* ext;
  ImageFormat format;
  int channels;
  std::vector<int> params;
};

std::vector<Case> Cases() {
  return {
      {"jpeg colour", ".jpg", ImageFormat::kJpeg, 3, {cv::IMWRITE_JPEG_QUALITY, 80}},
      {"jpeg grey", ".jpg", ImageFormat::kJpeg, 1, {}},
      {"png colour", ".png", ImageFormat::kPng, 3, {}},
      {"png alpha", ".png", ImageFormat::kPng, 4, {}},
      {"webp lossy", ".webp", ImageFormat::kWebp, 3, {cv::IMWRITE_WEBP_QUALITY, 80}},
      {"webp lossy alpha", ".webp", ImageFormat::kWebp, 4, {cv::IMWRITE_WEBP_QUALITY, 80}},
      {"webp lossless", ".webp", ImageFormat::kWebp, 3, {cv::IMWRITE_WEBP_QUALITY, 101}},
      {"webp lossless alpha", ".webp", ImageFormat::kWebp, 4, {cv::IMWRITE_WEBP_QUALITY, 101}},
  };
}

TEST(ImageMetadataTest, EveryBlockRoundTripsAndPixelsStayTheSame) {
  for (const Case& c : Cases()) {
    for (bool be : {false, true}) {
      SCOPED_TRACE(std::string(c.name) + (be ? " big-endian EXIF" : " little-endian EXIF"));
      const Bytes encoded = Encode(c.ext, TestPattern(c.channels), c.params);
      const ImageMetadata m = FullMetadata(be);
      std::vector<std::string> notes;
      const Bytes embedded = MustEmbed(encoded, c.format, m, &notes);
      const ImageMetadata read = ReadImageMetadata(embedded, c.format);
      EXPECT_TRUE(read.notes.empty()) << JoinNotes(read.notes);
      EXPECT_TRUE(read.icc == m.icc) << read.icc.size() << " vs " << m.icc.size();
      EXPECT_EQ(read.exif, m.exif);
      EXPECT_EQ(read.xmp, m.xmp);
      if (c.format == ImageFormat::kJpeg) {
        EXPECT_TRUE(notes.empty()) << JoinNotes(notes);
        EXPECT_EQ(read.iptc, m.iptc);
      } else {
        EXPECT_TRUE(read.iptc.empty());  // Not read back from PNG or WebP.
      }
      if (c.format == ImageFormat::kWebp) {
        ASSERT_EQ(notes.size(), 1u) << JoinNotes(notes);
        EXPECT_TRUE(AnyNoteContains(notes, "IPTC dropped")) << notes[0];
      }
      if (c.format == ImageFormat::kPng) {
        EXPECT_TRUE(notes.empty()) << JoinNotes(notes);
      }
      ExpectSamePixels(Decode(embedded), Decode(encoded));
    }
  }
}

TEST(ImageMetadataTest, JpegSplitsTheProfileAfterJfif) {
  const Bytes encoded = Encode(".jpg", TestPattern(3));
  ASSERT_EQ(static_cast<uint8_t>(encoded[3]), 0xE0);  // libjpeg writes JFIF.
  const ImageMetadata m = FullMetadata(false);
  const Bytes embedded = MustEmbed(encoded, ImageFormat::kJpeg, m);
  const std::vector<JpegSegment> segments = JpegSegments(embedded);
  ASSERT_GE(segments.size(), 8u);
  // JFIF stays first; then EXIF, XMP, the ICC chunks and APP13 in order.
  EXPECT_EQ(segments[0].marker, 0xE0);
  EXPECT_EQ(segments[1].marker, 0xE1);
  EXPECT_EQ(embedded.substr(segments[1].offset + 4, 6), Bytes("Exif\0\0", 6));
  EXPECT_EQ(segments[2].marker, 0xE1);
  EXPECT_EQ(embedded.substr(segments[2].offset + 4, 29),
            Bytes("http://ns.adobe.com/xap/1.0/\0", 29));
  const std::vector<JpegSegment> app2 = App2Segments(embedded);
  ASSERT_EQ(app2.size(), 4u);  // 200 KiB in chunks of at most 65519 bytes.
  for (size_t i = 0; i < app2.size(); ++i) {
    EXPECT_EQ(segments[3 + i].offset, app2[i].offset);
    EXPECT_EQ(embedded.substr(app2[i].offset + 4, 12), Bytes("ICC_PROFILE\0", 12));
    EXPECT_EQ(static_cast<uint8_t>(embedded[app2[i].offset + 16]), i + 1);
    EXPECT_EQ(static_cast<uint8_t>(embedded[app2[i].offset + 17]), 4);
    EXPECT_LE(app2[i].size - 4 - 14, 65519u);
  }
  EXPECT_EQ(app2[0].size - 4 - 14, 65519u);
  EXPECT_EQ(segments[7].marker, 0xED);
}

TEST(ImageMetadataTest, WebpBecomesExtendedWithFlagsAndCanvas) {
  for (const Case& c : Cases()) {
    if (c.format != ImageFormat::kWebp) continue;
    SCOPED_TRACE(c.name);
    const Bytes encoded = Encode(c.ext, TestPattern(c.channels, 24, 40), c.params);
    const Bytes embedded = MustEmbed(encoded, ImageFormat::kWebp, FullMetadata(true, 1001));
    EXPECT_EQ(GetU32(embedded, 4, false), embedded.size() - 8);
    const std::vector<RiffChunkView> chunks = RiffChunks(embedded);
    ASSERT_GE(chunks.size(), 4u);
    EXPECT_EQ(chunks[0].fourcc, "VP8X");
    ASSERT_EQ(chunks[0].data.size(), 10u);
    const uint8_t flags = static_cast<uint8_t>(chunks[0].data[0]);
    EXPECT_EQ(flags & 0x2C, 0x2C);  // ICC, EXIF, XMP.
    EXPECT_EQ((flags & 0x10) != 0, c.channels == 4) << "alpha flag";
    const uint32_t w = GetU32(chunks[0].data + Bytes(1, '\0'), 4, false) & 0xFFFFFF;
    const uint32_t h = GetU32(chunks[0].data + Bytes(1, '\0'), 7, false) & 0xFFFFFF;
    EXPECT_EQ(w + 1, 40u);
    EXPECT_EQ(h + 1, 24u);
    EXPECT_EQ(chunks[1].fourcc, "ICCP");
    EXPECT_EQ(chunks[1].data.size(), 1001u);  // Odd: padded in the file.
    EXPECT_EQ(chunks[chunks.size() - 2].fourcc, "EXIF");
    EXPECT_EQ(chunks.back().fourcc, "XMP ");
  }
}

TEST(ImageMetadataTest, WebpWithOnlyIptcIsLeftAlone) {
  const Bytes encoded = Encode(".webp", TestPattern(3));
  ImageMetadata m;
  m.iptc = MakeIptc();
  std::vector<std::string> notes;
  EXPECT_EQ(MustEmbed(encoded, ImageFormat::kWebp, m, &notes), encoded);
  EXPECT_TRUE(AnyNoteContains(notes, "IPTC dropped")) << JoinNotes(notes);
}

TEST(ImageMetadataTest, PngIptcIsARawProfileExiftoolReads) {
  const Bytes encoded = Encode(".png", TestPattern(3));
  ImageMetadata m;
  m.iptc = Bytes(100, '\0');
  for (size_t i = 0; i < m.iptc.size(); ++i) m.iptc[i] = static_cast<char>(i * 13);
  const Bytes embedded = MustEmbed(encoded, ImageFormat::kPng, m);
  const std::vector<PngChunkView> chunks = PngChunks(embedded);
  ASSERT_GE(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].type, "IHDR");
  ASSERT_EQ(chunks[1].type, "zTXt");
  const Bytes keyword("Raw profile type iptc\0\0", 23);
  ASSERT_EQ(chunks[1].data.substr(0, keyword.size()), keyword);
  const Bytes text = Unzlib(chunks[1].data.substr(keyword.size()));
  std::string hex;
  static const char kHex[] = "0123456789abcdef";
  for (char ch : m.iptc) {
    hex.push_back(kHex[static_cast<uint8_t>(ch) >> 4]);
    hex.push_back(kHex[static_cast<uint8_t>(ch) & 15]);
  }
  EXPECT_EQ(text, "\niptc\n     100\n" + hex.substr(0, 72) + "\n" + hex.substr(72, 72) + "\n" +
                      hex.substr(144) + "\n");
}

TEST(ImageMetadataTest, PlainEncoderOutputHasNoMetadata) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const ImageMetadata read =
        ReadImageMetadata(Encode(c.ext, TestPattern(c.channels), c.params), c.format);
    EXPECT_TRUE(read.empty());
    EXPECT_TRUE(read.notes.empty()) << JoinNotes(read.notes);
  }
  ImageMetadata m;
  EXPECT_TRUE(m.empty());
  m.iptc = "x";
  EXPECT_FALSE(m.empty());
}

TEST(ImageMetadataTest, OtherFormatsReadNothingAndEmbedNothing) {
  const Bytes bmp = Encode(".bmp", TestPattern(3));
  const ImageMetadata m = FullMetadata(false, 500);
  for (ImageFormat f : {ImageFormat::kBmp, ImageFormat::kTiff, ImageFormat::kUnknown}) {
    EXPECT_EQ(MustEmbed(bmp, f, m), bmp);
    EXPECT_TRUE(
        ReadImageMetadata(MustEmbed(Encode(".jpg", TestPattern(3)), ImageFormat::kJpeg, m), f)
            .empty());
  }
}

TEST(ImageMetadataTest, EmbedRejectsAFileOfAnotherFormat) {
  const Bytes jpg = Encode(".jpg", TestPattern(3));
  const Bytes png = Encode(".png", TestPattern(3));
  const Bytes webp = Encode(".webp", TestPattern(3));
  const ImageMetadata m = FullMetadata(false, 500);
  const struct {
    const Bytes* bytes;
    ImageFormat claimed;
  } wrong[] = {{&png, ImageFormat::kJpeg}, {&webp, ImageFormat::kJpeg}, {&jpg, ImageFormat::kPng},
               {&webp, ImageFormat::kPng}, {&jpg, ImageFormat::kWebp},  {&png, ImageFormat::kWebp}};
  for (const auto& w : wrong) {
    auto out = EmbedImageMetadata(*w.bytes, w.claimed, m);
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument)
        << ImageFormatName(w.claimed);
  }
  EXPECT_EQ(EmbedImageMetadata("", ImageFormat::kWebp, m).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ImageMetadataTest, JpegDropsBlocksTooLargeForItsSegments) {
  const Bytes encoded = Encode(".jpg", TestPattern(3));
  ImageMetadata m;
  m.exif = MakeTiff(false, 6) + Bytes(70000, 'e');
  m.xmp = Bytes(65504, 'x');   // Exactly fits: 65533 - 29 bytes of namespace.
  m.iptc = Bytes(65520, 'i');  // One byte over 65533 - 14.
  std::vector<std::string> notes;
  const Bytes embedded = MustEmbed(encoded, ImageFormat::kJpeg, m, &notes);
  EXPECT_TRUE(AnyNoteContains(notes, "EXIF dropped")) << JoinNotes(notes);
  EXPECT_TRUE(AnyNoteContains(notes, "IPTC dropped")) << JoinNotes(notes);
  EXPECT_EQ(notes.size(), 2u) << JoinNotes(notes);
  MetadataLimits roomy;
  roomy.max_xmp = 1 << 20;
  const ImageMetadata read = ReadImageMetadata(embedded, ImageFormat::kJpeg, roomy);
  EXPECT_TRUE(read.exif.empty());
  EXPECT_TRUE(read.iptc.empty());
  EXPECT_EQ(read.xmp, m.xmp);
  ExpectSamePixels(Decode(embedded), Decode(encoded));
  // Without a notes vector the drop is silent, and still no error.
  EXPECT_TRUE(EmbedImageMetadata(encoded, ImageFormat::kJpeg, m).ok());
}

TEST(ImageMetadataTest, JpegDropsAProfileNeedingMoreThan255Chunks) {
  const Bytes encoded = Encode(".jpg", TestPattern(3));
  ImageMetadata m;
  m.icc = FakeIcc(255 * 65519 + 1);
  m.exif = MakeTiff(true, 3);
  std::vector<std::string> notes;
  const Bytes embedded = MustEmbed(encoded, ImageFormat::kJpeg, m, &notes);
  EXPECT_TRUE(AnyNoteContains(notes, "ICC profile dropped")) << JoinNotes(notes);
  EXPECT_TRUE(App2Segments(embedded).empty());
  EXPECT_EQ(ReadImageMetadata(embedded, ImageFormat::kJpeg).exif, m.exif);

  m.icc.resize(255 * 65519);  // Exactly 255 full chunks fit.
  MetadataLimits roomy;
  roomy.max_icc = m.icc.size();
  const Bytes full = MustEmbed(encoded, ImageFormat::kJpeg, m);
  EXPECT_EQ(App2Segments(full).size(), 255u);
  EXPECT_TRUE(ReadImageMetadata(full, ImageFormat::kJpeg, roomy).icc == m.icc);
}

TEST(ImageMetadataTest, JpegFirstOccurrenceWins) {
  const Bytes encoded = Encode(".jpg", TestPattern(3));
  ImageMetadata first = FullMetadata(false, 3000);
  ImageMetadata second = FullMetadata(true, 5000);
  second.xmp = "<second/>";
  second.iptc = MakeIptc("Second");
  // Embedding again inserts before the earlier blocks: those come second.
  const Bytes twice =
      MustEmbed(MustEmbed(encoded, ImageFormat::kJpeg, second), ImageFormat::kJpeg, first);
  const ImageMetadata read = ReadImageMetadata(twice, ImageFormat::kJpeg);
  EXPECT_EQ(read.exif, first.exif);
  EXPECT_EQ(read.xmp, first.xmp);
  EXPECT_EQ(read.iptc, first.iptc);
  // Two single-chunk profiles both claim to be chunk 1 of 1.
  EXPECT_TRUE(read.icc.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "appears twice")) << JoinNotes(read.notes);
}

// --- Malformed ICC chunk sets --------------------------------------------

class JpegIccChunksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    metadata_ = FullMetadata(false);
    embedded_ = MustEmbed(Encode(".jpg", TestPattern(3)), ImageFormat::kJpeg, metadata_);
    app2_ = App2Segments(embedded_);
    ASSERT_EQ(app2_.size(), 4u);
  }

  // The ICC profile is dropped with a note saying `why`; the other blocks stay.
  void ExpectIccDropped(const Bytes& file, const std::string& why) {
    const ImageMetadata read = ReadImageMetadata(file, ImageFormat::kJpeg);
    EXPECT_TRUE(read.icc.empty());
    ASSERT_EQ(read.notes.size(), 1u) << JoinNotes(read.notes);
    EXPECT_NE(read.notes[0].find("ICC profile dropped"), std::string::npos) << read.notes[0];
    EXPECT_NE(read.notes[0].find(why), std::string::npos) << read.notes[0];
    EXPECT_EQ(read.exif, metadata_.exif);
    EXPECT_EQ(read.xmp, metadata_.xmp);
  }

  Bytes Segment(size_t i) const { return embedded_.substr(app2_[i].offset, app2_[i].size); }

  ImageMetadata metadata_;
  Bytes embedded_;
  std::vector<JpegSegment> app2_;
};

TEST_F(JpegIccChunksTest, MissingChunk) {
  Bytes f = embedded_;
  f.erase(app2_[2].offset, app2_[2].size);
  ExpectIccDropped(f, "chunk 3 of 4 is missing");
}

TEST_F(JpegIccChunksTest, DuplicatedChunk) {
  Bytes f = embedded_;
  f.insert(app2_[3].offset, Segment(1));
  ExpectIccDropped(f, "chunk 2 appears twice");
}

TEST_F(JpegIccChunksTest, CountsDisagree) {
  Bytes f = embedded_;
  f[app2_[1].offset + 17] = 5;
  ExpectIccDropped(f, "disagree");
}

TEST_F(JpegIccChunksTest, ChunkNumberOutOfRange) {
  Bytes f = embedded_;
  f[app2_[1].offset + 16] = 0;
  ExpectIccDropped(f, "outside 1..4");
}

TEST_F(JpegIccChunksTest, ChunksOutOfOrderAreReassembledInSequence) {
  Bytes f = embedded_;
  const Bytes s0 = Segment(0);
  // Move chunk 1 after chunk 4: same length segments stay in place otherwise.
  f.erase(app2_[0].offset, app2_[0].size);
  f.insert(app2_[3].offset + app2_[3].size - s0.size(), s0);
  const ImageMetadata read = ReadImageMetadata(f, ImageFormat::kJpeg);
  EXPECT_TRUE(read.icc == metadata_.icc);
  EXPECT_TRUE(read.notes.empty()) << JoinNotes(read.notes);
}

TEST_F(JpegIccChunksTest, TruncatedChunkSet) {
  // The file ends inside the third chunk: the walk stops there.
  for (size_t cut : {app2_[0].offset + 100, app2_[2].offset + 5000, app2_[3].offset}) {
    const ImageMetadata read = ReadImageMetadata(embedded_.substr(0, cut), ImageFormat::kJpeg);
    EXPECT_TRUE(read.icc.empty());
    EXPECT_EQ(read.exif, metadata_.exif);
    if (cut > app2_[0].offset + app2_[0].size) {
      EXPECT_TRUE(AnyNoteContains(read.notes, "is missing")) << JoinNotes(read.notes);
    }
  }
}

TEST_F(JpegIccChunksTest, ChunkWithoutHeader) {
  Bytes f = embedded_;
  Bytes bare("\xFF\xE2\0\x0E", 4);
  bare += Bytes("ICC_PROFILE\0", 12);
  f.insert(app2_[0].offset, bare);
  ExpectIccDropped(f, "too short");
}

TEST_F(JpegIccChunksTest, ProfileOverTheLimit) {
  MetadataLimits small;
  small.max_icc = metadata_.icc.size() - 1;
  ImageMetadata read = ReadImageMetadata(embedded_, ImageFormat::kJpeg, small);
  EXPECT_TRUE(read.icc.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "over the limit")) << JoinNotes(read.notes);
  small.max_icc = metadata_.icc.size();
  read = ReadImageMetadata(embedded_, ImageFormat::kJpeg, small);
  EXPECT_TRUE(read.icc == metadata_.icc);
}

// --- PNG and WebP specifics ----------------------------------------------

TEST(ImageMetadataTest, PngInflatedProfileOverTheLimitIsDropped) {
  const Bytes encoded = Encode(".png", TestPattern(3));
  ImageMetadata m;
  m.icc = FakeIcc(200 * 1024);
  m.exif = MakeTiff(false, 8);
  const Bytes embedded = MustEmbed(encoded, ImageFormat::kPng, m);
  MetadataLimits limits;
  limits.max_icc = 100 * 1024;
  ImageMetadata read = ReadImageMetadata(embedded, ImageFormat::kPng, limits);
  EXPECT_TRUE(read.icc.empty());
  EXPECT_EQ(read.exif, m.exif);
  ASSERT_EQ(read.notes.size(), 1u);
  EXPECT_NE(read.notes[0].find("ICC profile dropped: inflates to more than 102400"),
            std::string::npos)
      << read.notes[0];
  limits.max_icc = m.icc.size();
  EXPECT_TRUE(ReadImageMetadata(embedded, ImageFormat::kPng, limits).icc == m.icc);
}

TEST(ImageMetadataTest, PngZlibBombCostsNoMoreThanTheLimit) {
  const Bytes encoded = Encode(".png", TestPattern(3));
  // 64 MiB of zeros deflate to about 64 KiB.
  const Bytes bomb = Zlib(Bytes(64u << 20, '\0'));
  const Bytes f = WithPngChunk(encoded, PngChunk("iCCP", Bytes("bomb\0\0", 6) + bomb));
  const ImageMetadata read = ReadImageMetadata(f, ImageFormat::kPng);
  EXPECT_TRUE(read.icc.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "inflates to more than 4194304"))
      << JoinNotes(read.notes);
}

TEST(ImageMetadataTest, PngHandBuiltChunks) {
  const Bytes encoded = Encode(".png", TestPattern(3));
  const Bytes tiff = MakeTiff(true, 6);
  // eXIf with the JPEG-style prefix some writers leave in.
  ImageMetadata read = ReadImageMetadata(
      WithPngChunk(encoded, PngChunk("eXIf", Bytes("Exif\0\0", 6) + tiff)), ImageFormat::kPng);
  EXPECT_EQ(read.exif, tiff);
  // Compressed iTXt XMP, with a language tag and translated keyword.
  const Bytes itxt = Bytes("XML:com.adobe.xmp\0\1\0en\0XMP\0", 27) + Zlib(kXmp);
  read = ReadImageMetadata(WithPngChunk(encoded, PngChunk("iTXt", itxt)), ImageFormat::kPng);
  EXPECT_EQ(read.xmp, kXmp);
  // Other iTXt keywords are not XMP.
  read = ReadImageMetadata(
      WithPngChunk(encoded, PngChunk("iTXt", Bytes("Comment\0\0\0\0\0hello", 17))),
      ImageFormat::kPng);
  EXPECT_TRUE(read.empty());
  EXPECT_TRUE(read.notes.empty());
  // A damaged CRC drops the chunk, as libpng does for ancillary chunks.
  Bytes bad = PngChunk("eXIf", tiff);
  bad.back() ^= 1;
  read = ReadImageMetadata(WithPngChunk(encoded, bad), ImageFormat::kPng);
  EXPECT_TRUE(read.exif.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "CRC")) << JoinNotes(read.notes);
  // eXIf that is not TIFF.
  read = ReadImageMetadata(WithPngChunk(encoded, PngChunk("eXIf", "not tiff")), ImageFormat::kPng);
  EXPECT_TRUE(read.exif.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "not a TIFF structure")) << JoinNotes(read.notes);
  // Truncated zlib stream in iCCP.
  const Bytes z = Zlib(FakeIcc(5000));
  read = ReadImageMetadata(
      WithPngChunk(encoded, PngChunk("iCCP", Bytes("p\0\0", 3) + z.substr(0, z.size() / 2))),
      ImageFormat::kPng);
  EXPECT_TRUE(read.icc.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "ends early")) << JoinNotes(read.notes);
  // Chunks after IDAT are not read.
  const Bytes late = encoded.substr(0, encoded.size() - 12) + PngChunk("eXIf", tiff) +
                     encoded.substr(encoded.size() - 12);
  EXPECT_TRUE(ReadImageMetadata(late, ImageFormat::kPng).exif.empty());
}

TEST(ImageMetadataTest, WebpHandBuiltChunks) {
  const Bytes encoded = Encode(".webp", TestPattern(3));
  const Bytes tiff = MakeTiff(false, 6);
  ImageMetadata read = ReadImageMetadata(
      WithRiffChunk(encoded, RiffChunk("EXIF", Bytes("Exif\0\0", 6) + tiff)), ImageFormat::kWebp);
  EXPECT_EQ(read.exif, tiff);
  // Blocks already in the file are kept when the metadata has none.
  ImageMetadata m;
  m.icc = FakeIcc(777);
  const Bytes with_xmp = WithRiffChunk(encoded, RiffChunk("XMP ", kXmp));
  const Bytes embedded = MustEmbed(with_xmp, ImageFormat::kWebp, m);
  read = ReadImageMetadata(embedded, ImageFormat::kWebp);
  EXPECT_EQ(read.icc, m.icc);
  EXPECT_EQ(read.xmp, kXmp);
  EXPECT_EQ(static_cast<uint8_t>(RiffChunks(embedded)[0].data[0]), 0x24);
  // Over the limit.
  MetadataLimits limits;
  limits.max_exif = tiff.size() - 1;
  read = ReadImageMetadata(WithRiffChunk(encoded, RiffChunk("EXIF", tiff)), ImageFormat::kWebp,
                           limits);
  EXPECT_TRUE(read.exif.empty());
  EXPECT_TRUE(AnyNoteContains(read.notes, "EXIF dropped")) << JoinNotes(read.notes);
}

// --- Orientation ----------------------------------------------------------

TEST(ImageMetadataTest, UprightOrientationForBothByteOrders) {
  for (bool be : {false, true}) {
    SCOPED_TRACE(be ? "big-endian" : "little-endian");
    const Bytes tiff = MakeTiff(be, 6);
    ASSERT_EQ(TiffOrientation(tiff), 6);
    const Bytes upright = ExifWithUprightOrientation(tiff);
    ASSERT_EQ(upright.size(), tiff.size());
    EXPECT_EQ(TiffOrientation(upright), 1);
    size_t changed = 0;
    for (size_t i = 0; i < tiff.size(); ++i) changed += tiff[i] != upright[i];
    EXPECT_EQ(changed, 1u);  // 00 06 -> 00 01, 06 00 -> 01 00.
    EXPECT_EQ(ExifWithUprightOrientation(upright), upright);
    // With the JPEG prefix still on, which is kept.
    const Bytes prefixed = Bytes("Exif\0\0", 6) + tiff;
    EXPECT_EQ(ExifWithUprightOrientation(prefixed), Bytes("Exif\0\0", 6) + upright);
  }
}

TEST(ImageMetadataTest, UprightOrientationLeavesOtherBlocksUnchanged) {
  const Bytes tiff = MakeTiff(false, 6);
  // Truncated inside IFD0's entries, before the Orientation entry ends.
  for (size_t cut = 0; cut < 8 + 2 + 12 + 12; ++cut) {
    EXPECT_EQ(ExifWithUprightOrientation(tiff.substr(0, cut)), tiff.substr(0, cut)) << cut;
  }
  // IFD offset past the end.
  Bytes far = tiff;
  far[4] = '\x7F';
  EXPECT_EQ(ExifWithUprightOrientation(far), far);
  // Orientation with the wrong type (LONG).
  Bytes wrong_type = tiff;
  wrong_type[8 + 2 + 12 + 2] = 4;
  EXPECT_EQ(ExifWithUprightOrientation(wrong_type), wrong_type);
  // No Orientation entry: only Make.
  Bytes no_tag = tiff;
  no_tag[8] = 1;
  EXPECT_EQ(ExifWithUprightOrientation(no_tag), no_tag);
  EXPECT_EQ(ExifWithUprightOrientation("garbage!"), "garbage!");
  EXPECT_EQ(ExifWithUprightOrientation(""), "");
}

// --- Robustness: nothing read out of bounds (run under ASan in CI) -------

struct Embedded {
  ImageFormat format;
  Bytes bytes;
};

std::vector<Embedded> SmallEmbeddedFiles() {
  std::vector<Embedded> out;
  for (const Case& c : Cases()) {
    const Bytes encoded = Encode(c.ext, TestPattern(c.channels, 8, 8), c.params);
    out.push_back({c.format, MustEmbed(encoded, c.format, FullMetadata(c.channels == 3, 2000))});
  }
  return out;
}

// A read of a damaged file keeps a block whole or not at all.
void ExpectWholeOrNothing(const ImageMetadata& read, const ImageMetadata& full) {
  EXPECT_TRUE(read.icc.empty() || read.icc == full.icc);
  EXPECT_TRUE(read.exif.empty() || read.exif == full.exif);
  EXPECT_TRUE(read.xmp.empty() || read.xmp == full.xmp);
  EXPECT_TRUE(read.iptc.empty() || read.iptc == full.iptc);
}

TEST(ImageMetadataRobustnessTest, EveryPrefixOfAnEmbeddedFile) {
  for (const Embedded& e : SmallEmbeddedFiles()) {
    SCOPED_TRACE(ImageFormatName(e.format));
    const ImageMetadata full = ReadImageMetadata(e.bytes, e.format);
    ASSERT_FALSE(full.icc.empty());
    for (size_t n = 0; n <= e.bytes.size(); ++n) {
      // A copy, so ASan sees the end of the buffer exactly at n.
      const Bytes prefix = e.bytes.substr(0, n);
      ExpectWholeOrNothing(ReadImageMetadata(prefix, e.format), full);
    }
  }
  // The large JPEG, whose profile spans several chunks.
  const Bytes jpg =
      MustEmbed(Encode(".jpg", TestPattern(3)), ImageFormat::kJpeg, FullMetadata(true));
  const ImageMetadata full = ReadImageMetadata(jpg, ImageFormat::kJpeg);
  for (size_t n = 0; n <= jpg.size(); n += (n % 65536 < 64 ? 1 : 61)) {
    const Bytes prefix = jpg.substr(0, n);
    ExpectWholeOrNothing(ReadImageMetadata(prefix, ImageFormat::kJpeg), full);
  }
}

// Recomputes every chunk's CRC, so a mutated PNG reaches the chunk parsers
// instead of stopping at the CRC check.
Bytes WithFixedPngCrcs(Bytes f) {
  size_t pos = 8;
  while (pos + 12 <= f.size()) {
    const size_t len = GetU32(f, pos, true);
    if (len > f.size() - pos - 12) break;
    const Bytes fixed = PngChunk(f.substr(pos + 4, 4), f.substr(pos + 8, len));
    f.replace(pos, fixed.size(), fixed);
    pos += 12 + len;
  }
  return f;
}

TEST(ImageMetadataRobustnessTest, RandomBytesAndMutations) {
  std::mt19937 rng(1234);
  const std::vector<Embedded> files = SmallEmbeddedFiles();
  const Bytes signatures[] = {Bytes("\xFF\xD8\xFF", 3), Bytes("\x89PNG\r\n\x1A\n", 8),
                              Bytes("RIFF\xFF\xFF\xFF\x7FWEBPVP8X", 16), Bytes()};
  for (int i = 0; i < 3000; ++i) {
    Bytes junk = signatures[i % 4];
    const size_t n = rng() % 300;
    for (size_t k = 0; k < n; ++k) junk.push_back(static_cast<char>(rng()));
    for (ImageFormat f : {ImageFormat::kJpeg, ImageFormat::kPng, ImageFormat::kWebp}) {
      (void)ReadImageMetadata(junk, f);
      (void)EmbedImageMetadata(junk, f, FullMetadata(true, 300));
      (void)ExifWithUprightOrientation(junk);
    }
  }
  for (int i = 0; i < 4000; ++i) {
    const Embedded& e = files[i % files.size()];
    Bytes mutated = e.bytes;
    for (int k = 1 + static_cast<int>(rng() % 8); k > 0; --k) {
      mutated[rng() % mutated.size()] = static_cast<char>(rng());
    }
    if (e.format == ImageFormat::kPng && i % 2 == 0) mutated = WithFixedPngCrcs(mutated);
    const ImageMetadata read = ReadImageMetadata(mutated, e.format);
    (void)EmbedImageMetadata(mutated, e.format, read);
    if (!read.exif.empty()) (void)ExifWithUprightOrientation(read.exif);
  }
}

// --- exiftool cross-check ---------------------------------------------------

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(ImageMetadataExiftoolTest, ExiftoolReadsWhatWeWrite) {
  const char kExiftool[] = "/usr/bin/exiftool";
  if (access(kExiftool, X_OK) != 0) GTEST_SKIP() << "no " << kExiftool;
  // The committed Display P3 profile (tests/testdata/color, made with lcms2):
  // no dependence on a system profile package.
  std::ifstream icc_file(testing::TestdataPath("color/p3.icc"), std::ios::binary);
  ASSERT_TRUE(icc_file) << "tests/testdata/color/p3.icc missing";
  ImageMetadata m;
  m.icc.assign(std::istreambuf_iterator<char>(icc_file), std::istreambuf_iterator<char>());
  m.exif = MakeTiff(true, 6, "TestCam");
  m.xmp = kXmp;
  m.iptc = MakeIptc("Restored");
  const char* tmp = getenv("TMPDIR");
  std::string dir_template = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/md_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template.data()), nullptr);
  const std::filesystem::path dir(dir_template);
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    const Bytes embedded = MustEmbed(Encode(c.ext, TestPattern(c.channels), c.params), c.format, m);
    const std::filesystem::path path = dir / (std::string("out") + c.ext);
    std::ofstream(path, std::ios::binary).write(embedded.data(), embedded.size());
    const std::string q = "'" + path.string() + "'";
    const std::string out =
        RunCommand(std::string(kExiftool) +
                   " -s -s -s -Orientation -Make -ICC_Profile:ProfileDescription "
                   "-XMP:CreatorTool " +
                   q + " 2>&1");
    EXPECT_EQ(out, "Rotate 90 CW\nTestCam\nDisplay P3\ncodiff test\n");
    if (c.format != ImageFormat::kWebp) {
      EXPECT_EQ(RunCommand(std::string(kExiftool) + " -s -s -s -IPTC:ObjectName " + q + " 2>&1"),
                "Restored\n");
    }
    // The only complaints allowed are about the test's minimal IFD0, which
    // lacks tags the EXIF spec requires in JPEG files.
    std::istringstream validate(
        RunCommand(std::string(kExiftool) + " -validate -a -warning -s -s -s " + q + " 2>&1"));
    for (std::string line; std::getline(validate, line);) {
      const bool fine = line == "OK" || line.find(" Warnings") != std::string::npos ||
                        line.rfind("Missing required JPEG IFD0 tag", 0) == 0;
      EXPECT_TRUE(fine) << line;
    }
  }
  if (getenv("CODIFF_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace codiff::image
