#include "core/image/image_metadata.h"

#include "core/image/parse_counters.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/image/byte_reader.h"

namespace codiff::image {
namespace {

using internal::HasBytes;
using internal::ReadU16;
using internal::ReadU24;
using internal::ReadU32;
using internal::ReadU8;
using internal::StartsWith;

using Notes = std::vector<std::string>;

constexpr std::string_view kExifPrefix("Exif\0\0", 6);
constexpr std::string_view kXmpNamespace("http://ns.adobe.com/xap/1.0/\0", 29);
constexpr std::string_view kIccPrefix("ICC_PROFILE\0", 12);
constexpr std::string_view kPhotoshopPrefix("Photoshop 3.0\0", 14);
constexpr std::string_view kJpegSoi("\xFF\xD8", 2);
constexpr std::string_view kJfif("JFIF\0", 5);
constexpr std::string_view kPngSignature("\x89PNG\r\n\x1A\n", 8);
constexpr std::string_view kXmpKeyword("XML:com.adobe.xmp\0", 18);
constexpr std::string_view kIptcKeyword("Raw profile type iptc\0", 22);
constexpr std::string_view kPngProfileName("ICC Profile\0", 12);

// A JPEG segment's length field counts itself: 65535 - 2 bytes of payload.
constexpr size_t kMaxJpegPayload = 65533;
// ICC_PROFILE chunks carry the prefix plus sequence number and count.
constexpr size_t kMaxIccChunkData = kMaxJpegPayload - kIccPrefix.size() - 2;
constexpr size_t kMaxIccChunks = 255;
// PNG chunk lengths are limited to 2^31 - 1 (PNG spec, 5.3).
constexpr size_t kMaxPngChunk = 0x7FFFFFFF;
constexpr size_t kMaxRiffSize = 0xFFFFFFFF;

// Abseil here is built with its own string_view, which StrCat takes.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

void AddNote(Notes* notes, absl::string_view what, absl::string_view why) {
  if (notes != nullptr) notes->push_back(absl::StrCat(what, " dropped: ", why));
}

std::string TooLarge(size_t size, size_t limit) {
  return absl::StrCat(size, " bytes, over the limit of ", limit);
}

// The TIFF header's byte order; false when `tiff` does not start with one.
bool TiffByteOrder(std::string_view tiff, bool* big_endian) {
  if (StartsWith(tiff, 0, std::string_view("II*\0", 4))) {
    *big_endian = false;
    return true;
  }
  if (StartsWith(tiff, 0, std::string_view("MM\0*", 4))) {
    *big_endian = true;
    return true;
  }
  return false;
}

std::string_view WithoutExifPrefix(std::string_view exif) {
  return StartsWith(exif, 0, kExifPrefix) ? exif.substr(kExifPrefix.size()) : exif;
}

// --- Reading ---------------------------------------------------------------

enum Block { kIcc, kExif, kXmp, kIptc };
constexpr std::array<const char*, 4> kBlockNames = {"ICC profile", "EXIF", "XMP", "IPTC"};

// Gathers blocks while a container is walked. The first block of each kind
// decides, kept or dropped, so a later duplicate cannot replace it.
class Collector {
 public:
  explicit Collector(const MetadataLimits& limits)
      : limits_{limits.max_icc, limits.max_exif, limits.max_xmp, limits.max_iptc} {}

  bool Seen(Block block) const { return seen_[block]; }
  size_t Limit(Block block) const { return limits_[block]; }

  void Take(Block block, std::string_view bytes) {
    if (seen_[block]) return;
    bool big_endian;
    if (bytes.size() > limits_[block]) {
      Drop(block, TooLarge(bytes.size(), limits_[block]));
    } else if (block == kExif && !TiffByteOrder(bytes, &big_endian)) {
      Drop(block, "not a TIFF structure");
    } else {
      seen_[block] = true;
      Slot(block)->assign(bytes.data(), bytes.size());
    }
  }

  void Drop(Block block, absl::string_view why) {
    if (seen_[block]) return;
    seen_[block] = true;
    AddNote(&out_.notes, kBlockNames[block], why);
  }

  ImageMetadata Release() { return std::move(out_); }

 private:
  std::string* Slot(Block block) {
    switch (block) {
      case kIcc:
        return &out_.icc;
      case kExif:
        return &out_.exif;
      case kXmp:
        return &out_.xmp;
      case kIptc:
        break;
    }
    return &out_.iptc;
  }

  std::array<size_t, 4> limits_;
  std::array<bool, 4> seen_{};
  ImageMetadata out_;
};

// Frees a zlib inflate stream however the inflation ends.
struct InflateStream {
  z_stream zs{};
  bool open = false;
  ~InflateStream() {
    if (open) inflateEnd(&zs);
  }
};

// A zlib stream inflated to at most `limit` bytes: output is grown as it
// comes, so a bomb costs no more than the limit.
absl::StatusOr<std::string> InflateBounded(std::string_view in, size_t limit) {
  if (in.size() > UINT_MAX) return absl::InvalidArgumentError("compressed data too large");
  InflateStream stream;
  if (inflateInit(&stream.zs) != Z_OK) return absl::InternalError("zlib inflateInit failed");
  stream.open = true;
  stream.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  stream.zs.avail_in = static_cast<uInt>(in.size());
  // One byte of room past the limit tells a stream that is too large.
  const size_t cap = limit == SIZE_MAX ? limit : limit + 1;
  std::string out;
  size_t produced = 0;
  while (true) {
    if (produced == out.size()) {
      if (produced == cap) break;
      out.resize(std::min(cap, std::max<size_t>(4096, produced * 2)));
    }
    stream.zs.next_out = reinterpret_cast<Bytef*>(&out[produced]);
    stream.zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, UINT_MAX));
    const uInt room = stream.zs.avail_out;
    const int rc = inflate(&stream.zs, Z_NO_FLUSH);
    produced += room - stream.zs.avail_out;
    if (rc == Z_STREAM_END) break;
    // With room left in the output, no progress means the input ran out.
    if (rc == Z_BUF_ERROR) return absl::InvalidArgumentError("zlib data ends early");
    if (rc != Z_OK) {
      return absl::InvalidArgumentError(absl::StrCat(
          "corrupt zlib data (", stream.zs.msg != nullptr ? stream.zs.msg : "no message", ")"));
    }
  }
  if (produced > limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("inflates to more than ", limit, " bytes, the limit"));
  }
  out.resize(produced);
  return out;
}

// Calls visit(marker, payload) for each segment between SOI and SOS, and
// stops quietly at anything malformed (the decoder reports those).
template <typename Visit>
void WalkJpegSegments(std::string_view file, Visit visit) {
  if (!StartsWith(file, 0, kJpegSoi)) return;
  internal::CountHeaderParse();
  size_t pos = 2;
  while (ReadU8(file, pos) == 0xFFu) {
    while (ReadU8(file, pos + 1) == 0xFFu) ++pos;  // Fill bytes.
    const auto marker = ReadU8(file, pos + 1);
    pos += 2;
    if (!marker || *marker == 0x00 || *marker == 0xDA || *marker == 0xD9) return;
    if (*marker == 0x01 || (*marker >= 0xD0 && *marker <= 0xD7)) continue;  // No length.
    const auto length = ReadU16(file, pos, /*big_endian=*/true);
    if (!length || *length < 2 || !HasBytes(file, pos, *length)) return;
    visit(*marker, file.substr(pos + 2, *length - 2));
    pos += *length;
  }
}

struct IccChunk {
  uint32_t seq = 0;
  uint32_t count = 0;
  std::string_view data;
};

// ICC.1 Annex B: chunks numbered 1..count, each once, all with one count.
// Sorts `chunks` by number.
absl::Status CheckIccChunks(std::vector<IccChunk>& chunks) {
  const uint32_t count = chunks.front().count;
  for (const IccChunk& c : chunks) {
    if (c.count != count) {
      return absl::InvalidArgumentError(absl::StrCat("ICC_PROFILE chunks disagree on their count (",
                                                     count, " vs ", c.count, ")"));
    }
    if (c.seq == 0 || c.seq > count) {
      return absl::InvalidArgumentError(
          absl::StrCat("ICC_PROFILE chunk number ", c.seq, " is outside 1..", count));
    }
  }
  std::stable_sort(chunks.begin(), chunks.end(),
                   [](const IccChunk& a, const IccChunk& b) { return a.seq < b.seq; });
  for (size_t i = 1; i < chunks.size(); ++i) {
    if (chunks[i].seq == chunks[i - 1].seq) {
      return absl::InvalidArgumentError(
          absl::StrCat("ICC_PROFILE chunk ", chunks[i].seq, " appears twice"));
    }
  }
  // All distinct and within 1..count: the first gap is the missing one.
  for (uint32_t i = 0; i < count; ++i) {
    if (i >= chunks.size() || chunks[i].seq != i + 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("ICC_PROFILE chunk ", i + 1, " of ", count, " is missing"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> JoinIccChunks(std::vector<IccChunk> chunks, size_t limit) {
  const absl::Status checked = CheckIccChunks(chunks);
  if (!checked.ok()) return checked;
  size_t total = 0;
  for (const IccChunk& c : chunks) total += c.data.size();
  if (total > limit) return absl::ResourceExhaustedError(TooLarge(total, limit));
  std::string icc;
  icc.reserve(total);
  for (const IccChunk& c : chunks) icc.append(c.data.data(), c.data.size());
  return icc;
}

// `each_segment(visit)` calls visit(marker, payload) for the file's
// segments before the first scan.
template <typename EachSegment>
void ReadJpeg(EachSegment each_segment, Collector* c) {
  std::vector<IccChunk> icc;
  each_segment([&](uint32_t marker, std::string_view payload) {
    if (marker == 0xE1 && StartsWith(payload, 0, kExifPrefix)) {
      c->Take(kExif, payload.substr(kExifPrefix.size()));
    } else if (marker == 0xE1 && StartsWith(payload, 0, kXmpNamespace)) {
      c->Take(kXmp, payload.substr(kXmpNamespace.size()));
    } else if (marker == 0xE2 && StartsWith(payload, 0, kIccPrefix)) {
      const auto seq = ReadU8(payload, kIccPrefix.size());
      const auto count = ReadU8(payload, kIccPrefix.size() + 1);
      if (!seq || !count) {
        c->Drop(kIcc, "an ICC_PROFILE segment is too short for its chunk header");
        return;
      }
      icc.push_back({*seq, *count, payload.substr(kIccPrefix.size() + 2)});
    } else if (marker == 0xED && StartsWith(payload, 0, kPhotoshopPrefix)) {
      c->Take(kIptc, payload.substr(kPhotoshopPrefix.size()));
    }
  });
  if (icc.empty() || c->Seen(kIcc)) return;
  auto joined = JoinIccChunks(std::move(icc), c->Limit(kIcc));
  if (joined.ok()) {
    c->Take(kIcc, *joined);
  } else {
    c->Drop(kIcc, joined.status().message());
  }
}

uint32_t PngCrc(std::string_view type, std::string_view data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(type.data()), static_cast<uInt>(type.size()));
  // Chunk data is at most 2^31 - 1 bytes, within uInt.
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  return static_cast<uint32_t>(crc);
}

// Calls visit(type, data, stored_crc) for each chunk before the first IDAT;
// stops quietly at a chunk that runs past the end.
template <typename Visit>
void WalkPngChunks(std::string_view file, Visit visit) {
  if (!StartsWith(file, 0, kPngSignature)) return;
  size_t pos = kPngSignature.size();
  while (true) {
    const auto length = ReadU32(file, pos, /*big_endian=*/true);
    if (!length || *length > kMaxPngChunk || !HasBytes(file, pos + 8, size_t{*length} + 4)) return;
    const std::string_view type = file.substr(pos + 4, 4);
    if (type == "IDAT" || type == "IEND") return;
    visit(type, file.substr(pos + 8, *length), *ReadU32(file, pos + 8 + *length, true));
    pos += 12 + size_t{*length};
  }
}

// iCCP: profile name (1-79 bytes), NUL, compression method 0, zlib stream.
absl::StatusOr<std::string> ParseIccp(std::string_view data, size_t limit) {
  const size_t nul = data.substr(0, 80).find('\0');
  if (nul == std::string_view::npos || nul == 0) {
    return absl::InvalidArgumentError("iCCP chunk has no profile name");
  }
  const auto method = ReadU8(data, nul + 1);
  if (method != 0u) return absl::InvalidArgumentError("iCCP compression method is not zlib");
  return InflateBounded(data.substr(nul + 2), limit);
}

// iTXt after the keyword's NUL: compression flag, method, language tag, NUL,
// translated keyword, NUL, text (zlib-compressed when the flag is 1).
absl::StatusOr<std::string> ParseItxtText(std::string_view data, size_t keyword_end, size_t limit) {
  const auto flag = ReadU8(data, keyword_end);
  const auto method = ReadU8(data, keyword_end + 1);
  if (!flag || !method) return absl::InvalidArgumentError("iTXt chunk is truncated");
  size_t pos = keyword_end + 2;
  for (int field = 0; field < 2; ++field) {
    const size_t nul = data.find('\0', pos);
    if (nul == std::string_view::npos) return absl::InvalidArgumentError("iTXt chunk is truncated");
    pos = nul + 1;
  }
  const std::string_view text = data.substr(pos);
  if (*flag == 0) {
    if (text.size() > limit) return absl::ResourceExhaustedError(TooLarge(text.size(), limit));
    return std::string(text);
  }
  if (*flag != 1 || *method != 0) {
    return absl::InvalidArgumentError("iTXt chunk has an unknown compression");
  }
  return InflateBounded(text, limit);
}

void TakeParsed(Collector* c, Block block, const absl::StatusOr<std::string>& parsed) {
  if (parsed.ok()) {
    c->Take(block, *parsed);
  } else {
    c->Drop(block, parsed.status().message());
  }
}

void ReadPngChunk(Collector* c, std::string_view type, std::string_view data, uint32_t crc) {
  std::optional<Block> block;
  if (type == "iCCP") block = kIcc;
  if (type == "eXIf") block = kExif;
  if (type == "iTXt" && StartsWith(data, 0, kXmpKeyword)) block = kXmp;
  if (!block || c->Seen(*block)) return;
  if (crc != PngCrc(type, data)) {
    c->Drop(*block, absl::StrCat("PNG ", Absl(type), " chunk fails its CRC check"));
  } else if (*block == kIcc) {
    TakeParsed(c, kIcc, ParseIccp(data, c->Limit(kIcc)));
  } else if (*block == kExif) {
    c->Take(kExif, WithoutExifPrefix(data));
  } else {
    TakeParsed(c, kXmp, ParseItxtText(data, kXmpKeyword.size(), c->Limit(kXmp)));
  }
}

void ReadPng(std::string_view file, Collector* c) {
  WalkPngChunks(file, [&](std::string_view type, std::string_view data, uint32_t crc) {
    ReadPngChunk(c, type, data, crc);
  });
}

// Calls visit(fourcc, payload) for each chunk of a RIFF WEBP file. False when
// the file is not one or a chunk runs past the end of it.
template <typename Visit>
bool WalkWebpChunks(std::string_view file, Visit visit) {
  const auto riff_size = ReadU32(file, 4, /*big_endian=*/false);
  if (!StartsWith(file, 0, "RIFF") || !riff_size || !StartsWith(file, 8, "WEBP")) return false;
  const std::string_view body = file.substr(0, std::min(file.size(), size_t{*riff_size} + 8));
  size_t pos = 12;
  while (pos < body.size()) {
    const auto size = ReadU32(body, pos + 4, false);
    if (!size || !HasBytes(body, pos + 8, *size)) return false;
    visit(body.substr(pos, 4), body.substr(pos + 8, *size));
    pos += 8 + size_t{*size} + (*size & 1);  // Chunks are padded to even size.
  }
  return true;
}

void ReadWebp(std::string_view file, Collector* c) {
  WalkWebpChunks(file, [&](std::string_view fourcc, std::string_view data) {
    if (fourcc == "ICCP") c->Take(kIcc, data);
    if (fourcc == "EXIF") c->Take(kExif, WithoutExifPrefix(data));
    if (fourcc == "XMP ") c->Take(kXmp, data);
  });
}

// --- Writing: JPEG ---------------------------------------------------------

void AppendJpegSegment(std::string* out, uint32_t marker, std::string_view header,
                       std::string_view data) {
  const size_t length = 2 + header.size() + data.size();
  out->push_back('\xFF');
  out->push_back(static_cast<char>(marker));
  out->push_back(static_cast<char>(length >> 8));
  out->push_back(static_cast<char>(length & 0xFF));
  out->append(header.data(), header.size());
  out->append(data.data(), data.size());
}

void AppendAppSegment(std::string* out, uint32_t marker, std::string_view prefix,
                      std::string_view block, const char* what, Notes* notes) {
  if (block.empty()) return;
  const size_t room = kMaxJpegPayload - prefix.size();
  if (block.size() > room) {
    AddNote(notes, what,
            absl::StrCat(block.size(), " bytes do not fit a JPEG APP", marker - 0xE0,
                         " segment (at most ", room, ")"));
    return;
  }
  AppendJpegSegment(out, marker, prefix, block);
}

void AppendIccSegments(std::string* out, std::string_view icc, Notes* notes) {
  if (icc.empty()) return;
  const size_t count = (icc.size() + kMaxIccChunkData - 1) / kMaxIccChunkData;
  if (count > kMaxIccChunks) {
    AddNote(notes, kBlockNames[kIcc],
            absl::StrCat(icc.size(), " bytes need more than ", kMaxIccChunks,
                         " JPEG ICC_PROFILE chunks"));
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    std::string header(kIccPrefix);
    header.push_back(static_cast<char>(i + 1));
    header.push_back(static_cast<char>(count));
    AppendJpegSegment(out, 0xE2, header, icc.substr(i * kMaxIccChunkData, kMaxIccChunkData));
  }
}

// Where the new segments go: after SOI, or after a JFIF APP0, which readers
// expect right after SOI.
absl::StatusOr<size_t> JpegInsertOffset(std::string_view encoded) {
  if (!StartsWith(encoded, 0, kJpegSoi)) {
    return absl::InvalidArgumentError("not a JPEG file (no SOI marker)");
  }
  if (!StartsWith(encoded, 2, "\xFF\xE0") || !StartsWith(encoded, 6, kJfif)) return 2;
  const auto length = ReadU16(encoded, 4, /*big_endian=*/true);
  if (!length || *length < 2 + kJfif.size() || !HasBytes(encoded, 4, *length)) {
    return absl::InvalidArgumentError("corrupt JPEG: JFIF segment runs past the end");
  }
  return 4 + size_t{*length};
}

absl::StatusOr<std::string> EmbedJpeg(std::string_view encoded, const ImageMetadata& metadata,
                                      Notes* notes) {
  const absl::StatusOr<size_t> insert = JpegInsertOffset(encoded);
  if (!insert.ok()) return insert.status();
  std::string segments;
  AppendAppSegment(&segments, 0xE1, kExifPrefix, metadata.exif, "EXIF", notes);
  AppendAppSegment(&segments, 0xE1, kXmpNamespace, metadata.xmp, "XMP", notes);
  AppendIccSegments(&segments, metadata.icc, notes);
  AppendAppSegment(&segments, 0xED, kPhotoshopPrefix, metadata.iptc, "IPTC", notes);
  std::string out;
  out.reserve(encoded.size() + segments.size());
  out.append(encoded.substr(0, *insert));
  out.append(segments);
  out.append(encoded.substr(*insert));
  return out;
}

// --- Writing: PNG ----------------------------------------------------------

void AppendU32(std::string* out, uint32_t v, bool big_endian) {
  for (int i = 0; i < 4; ++i) {
    const int shift = big_endian ? 24 - 8 * i : 8 * i;
    out->push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

std::optional<std::string> Deflate(std::string_view data) {
  uLongf size = compressBound(static_cast<uLong>(data.size()));
  std::string out(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                reinterpret_cast<const Bytef*>(data.data()), static_cast<uLong>(data.size()),
                Z_BEST_COMPRESSION) != Z_OK) {
    return std::nullopt;
  }
  out.resize(size);
  return out;
}

// A chunk whose data is `header` + `body`, with its CRC; a note instead when
// it exceeds PNG's chunk length limit.
void AppendPngChunk(std::string* out, std::string_view type, std::string_view header,
                    std::string_view body, const char* what, Notes* notes) {
  const size_t length = header.size() + body.size();
  if (length > kMaxPngChunk) {
    AddNote(notes, what,
            absl::StrCat(length, " bytes do not fit a PNG ", Absl(type), " chunk (at most ",
                         kMaxPngChunk, ")"));
    return;
  }
  std::string data;
  data.reserve(length);
  data.append(header.data(), header.size());
  data.append(body.data(), body.size());
  AppendU32(out, static_cast<uint32_t>(length), /*big_endian=*/true);
  out->append(type.data(), type.size());
  out->append(data);
  AppendU32(out, PngCrc(type, data), /*big_endian=*/true);
}

// A compressed text chunk (zTXt, or iCCP which shares its layout): keyword
// with its NUL, compression method 0, zlib stream.
void AppendDeflatedChunk(std::string* out, std::string_view type, std::string_view keyword,
                         std::string_view body, const char* what, Notes* notes) {
  const std::optional<std::string> deflated = Deflate(body);
  if (!deflated) {
    AddNote(notes, what, "zlib compression failed");
    return;
  }
  std::string header(keyword);
  header.push_back('\0');  // Compression method 0: zlib.
  AppendPngChunk(out, type, header, *deflated, what, notes);
}

// ImageMagick's raw profile text, which exiftool reads: "\n", the profile
// type, "\n", the length right-aligned in 8 columns, "\n", then the bytes in
// hex, 72 digits a line.
std::string RawProfileText(std::string_view type, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  char length[32];
  std::snprintf(length, sizeof(length), "%8zu", bytes.size());
  std::string text = absl::StrCat("\n", Absl(type), "\n", length, "\n");
  text.reserve(text.size() + bytes.size() * 2 + bytes.size() / 36 + 2);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    text.push_back(kHex[byte >> 4]);
    text.push_back(kHex[byte & 15]);
    if (i % 36 == 35 || i + 1 == bytes.size()) text.push_back('\n');
  }
  return text;
}

// Offset just past IHDR, which must be the first chunk.
absl::StatusOr<size_t> PngInsertOffset(std::string_view encoded) {
  const size_t ihdr = kPngSignature.size();
  if (!StartsWith(encoded, 0, kPngSignature) || ReadU32(encoded, ihdr, true) != 13u ||
      !StartsWith(encoded, ihdr + 4, "IHDR") || !HasBytes(encoded, ihdr, 12 + 13)) {
    return absl::InvalidArgumentError("not a PNG file (no signature and IHDR chunk)");
  }
  return ihdr + 12 + 13;
}

absl::StatusOr<std::string> EmbedPng(std::string_view encoded, const ImageMetadata& metadata,
                                     Notes* notes) {
  const absl::StatusOr<size_t> insert = PngInsertOffset(encoded);
  if (!insert.ok()) return insert.status();
  std::string chunks;
  if (!metadata.icc.empty()) {
    AppendDeflatedChunk(&chunks, "iCCP", kPngProfileName, metadata.icc, kBlockNames[kIcc], notes);
  }
  if (!metadata.exif.empty()) AppendPngChunk(&chunks, "eXIf", "", metadata.exif, "EXIF", notes);
  if (!metadata.xmp.empty()) {
    // Keyword (with its NUL), then uncompressed, method 0, empty language
    // tag and translated keyword, each NUL-terminated.
    std::string header(kXmpKeyword);
    header.append(4, '\0');
    AppendPngChunk(&chunks, "iTXt", header, metadata.xmp, "XMP", notes);
  }
  if (!metadata.iptc.empty()) {
    AppendDeflatedChunk(&chunks, "zTXt", kIptcKeyword, RawProfileText("iptc", metadata.iptc),
                        "IPTC", notes);
  }
  std::string out;
  out.reserve(encoded.size() + chunks.size());
  out.append(encoded.substr(0, *insert));
  out.append(chunks);
  out.append(encoded.substr(*insert));
  return out;
}

// --- Writing: WebP ---------------------------------------------------------

constexpr uint32_t kVp8xIcc = 0x20;
constexpr uint32_t kVp8xAlpha = 0x10;
constexpr uint32_t kVp8xExif = 0x08;
constexpr uint32_t kVp8xXmp = 0x04;
constexpr uint32_t kVp8xAnimation = 0x02;

// What an extended file is rebuilt from: the image chunks as they were and
// the canvas they make.
struct WebpParts {
  std::string image_chunks;  // Everything but VP8X and the metadata chunks, in order.
  uint32_t width = 0;
  uint32_t height = 0;
  bool alpha = false;
  bool animation = false;
  bool has_canvas = false;
  // Metadata chunks already there, kept unless `metadata` replaces them.
  std::string_view icc, exif, xmp;
};

void AppendRiffChunk(std::string* out, std::string_view fourcc, std::string_view data) {
  out->append(fourcc.data(), fourcc.size());
  AppendU32(out, static_cast<uint32_t>(data.size()), /*big_endian=*/false);
  out->append(data.data(), data.size());
  if (data.size() & 1) out->push_back('\0');
}

// VP8X payload: flags, 3 reserved bytes, canvas width - 1 and height - 1 (24 bits each).
void ReadVp8x(std::string_view data, WebpParts* parts) {
  const auto flags = ReadU8(data, 0);
  const auto w = ReadU24(data, 4, /*big_endian=*/false);
  const auto h = ReadU24(data, 7, /*big_endian=*/false);
  if (!flags || !w || !h) return;
  parts->has_canvas = true;
  parts->width = *w + 1;
  parts->height = *h + 1;
  parts->alpha |= (*flags & kVp8xAlpha) != 0;
  parts->animation = (*flags & kVp8xAnimation) != 0;
}

// Key frame header: 3-byte frame tag, start code 9d 01 2a, then 14-bit
// width and height (the top 2 bits are the scaling).
void ReadVp8Size(std::string_view data, WebpParts* parts) {
  const auto w = ReadU16(data, 6, /*big_endian=*/false);
  const auto h = ReadU16(data, 8, /*big_endian=*/false);
  if (parts->has_canvas || !StartsWith(data, 3, std::string_view("\x9D\x01\x2A", 3)) || !w || !h) {
    return;
  }
  parts->has_canvas = true;
  parts->width = *w & 0x3FFF;
  parts->height = *h & 0x3FFF;
}

// VP8L header: signature 0x2f, then 14-bit width - 1, 14-bit height - 1 and
// the alpha_is_used bit, packed little endian.
void ReadVp8lSize(std::string_view data, WebpParts* parts) {
  const auto bits = ReadU32(data, 1, /*big_endian=*/false);
  if (ReadU8(data, 0) != 0x2Fu || !bits) return;
  parts->alpha |= ((*bits >> 28) & 1) != 0;
  if (parts->has_canvas) return;
  parts->has_canvas = true;
  parts->width = (*bits & 0x3FFF) + 1;
  parts->height = ((*bits >> 14) & 0x3FFF) + 1;
}

absl::StatusOr<WebpParts> SplitWebp(std::string_view encoded) {
  WebpParts parts;
  const bool walked = WalkWebpChunks(encoded, [&](std::string_view fourcc, std::string_view data) {
    if (fourcc == "VP8X") {
      ReadVp8x(data, &parts);
    } else if (fourcc == "ICCP") {
      parts.icc = data;
    } else if (fourcc == "EXIF") {
      parts.exif = data;
    } else if (fourcc == "XMP ") {
      parts.xmp = data;
    } else {
      if (fourcc == "ALPH") parts.alpha = true;
      if (fourcc == "VP8 ") ReadVp8Size(data, &parts);
      if (fourcc == "VP8L") ReadVp8lSize(data, &parts);
      AppendRiffChunk(&parts.image_chunks, fourcc, data);
    }
  });
  if (!walked) return absl::InvalidArgumentError("not a WebP file (malformed RIFF container)");
  if (!parts.has_canvas || parts.width == 0 || parts.height == 0 || parts.width > (1u << 24) ||
      parts.height > (1u << 24)) {
    return absl::InvalidArgumentError("WebP file has no readable image size");
  }
  return parts;
}

// Clears (with a note) a block that would take the RIFF size past 32 bits.
void FitRiffChunk(std::string_view* block, size_t* budget, const char* what, Notes* notes) {
  if (block->empty()) return;
  const size_t need = 8 + block->size() + (block->size() & 1);
  if (need > *budget) {
    AddNote(notes, what, absl::StrCat(block->size(), " bytes do not fit a WebP file"));
    *block = {};
    return;
  }
  *budget -= need;
}

std::string Vp8xPayload(const WebpParts& parts, uint32_t flags) {
  std::string vp8x;
  vp8x.push_back(static_cast<char>(flags));
  vp8x.append(3, '\0');
  for (uint32_t v : {parts.width - 1, parts.height - 1}) {
    for (int i = 0; i < 3; ++i) vp8x.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  return vp8x;
}

absl::StatusOr<std::string> EmbedWebp(std::string_view encoded, const ImageMetadata& metadata,
                                      Notes* notes) {
  absl::StatusOr<WebpParts> parts = SplitWebp(encoded);
  if (!parts.ok()) return parts.status();
  if (!metadata.iptc.empty()) AddNote(notes, "IPTC", "WebP has no container for it");
  std::string_view icc = metadata.icc.empty() ? parts->icc : metadata.icc;
  std::string_view exif = metadata.exif.empty() ? parts->exif : metadata.exif;
  std::string_view xmp = metadata.xmp.empty() ? parts->xmp : metadata.xmp;
  size_t budget = kMaxRiffSize - 4 - 18 - parts->image_chunks.size();
  FitRiffChunk(&icc, &budget, kBlockNames[kIcc], notes);
  FitRiffChunk(&exif, &budget, "EXIF", notes);
  FitRiffChunk(&xmp, &budget, "XMP", notes);
  if (icc.empty() && exif.empty() && xmp.empty()) return std::string(encoded);
  const uint32_t flags = (parts->animation ? kVp8xAnimation : 0) | (parts->alpha ? kVp8xAlpha : 0) |
                         (icc.empty() ? 0 : kVp8xIcc) | (exif.empty() ? 0 : kVp8xExif) |
                         (xmp.empty() ? 0 : kVp8xXmp);
  // Chunk order from the extended format: VP8X, ICCP, image, EXIF, XMP.
  std::string body = "WEBP";
  AppendRiffChunk(&body, "VP8X", Vp8xPayload(*parts, flags));
  if (!icc.empty()) AppendRiffChunk(&body, "ICCP", icc);
  body.append(parts->image_chunks);
  if (!exif.empty()) AppendRiffChunk(&body, "EXIF", exif);
  if (!xmp.empty()) AppendRiffChunk(&body, "XMP ", xmp);
  std::string out = "RIFF";
  AppendU32(&out, static_cast<uint32_t>(body.size()), /*big_endian=*/false);
  out.append(body);
  return out;
}

// Offset of IFD0's Orientation value (a SHORT, count 1, in the entry's value
// field), or nullopt when the tag is absent or the structure malformed.
std::optional<size_t> OrientationValueOffset(std::string_view tiff, bool big_endian) {
  const auto ifd = ReadU32(tiff, 4, big_endian);
  if (!ifd) return std::nullopt;
  const auto count = ReadU16(tiff, *ifd, big_endian);
  if (!count) return std::nullopt;
  for (uint32_t i = 0; i < *count; ++i) {
    const size_t entry = size_t{*ifd} + 2 + size_t{12} * i;
    if (!HasBytes(tiff, entry, 12)) return std::nullopt;
    if (ReadU16(tiff, entry, big_endian) != 0x0112u) continue;
    if (ReadU16(tiff, entry + 2, big_endian) != 3u || ReadU32(tiff, entry + 4, big_endian) != 1u) {
      return std::nullopt;
    }
    return entry + 8;
  }
  return std::nullopt;
}

}  // namespace

bool ImageMetadata::empty() const {
  return icc.empty() && exif.empty() && xmp.empty() && iptc.empty();
}

ImageMetadata ReadImageMetadata(std::string_view file, ImageFormat format,
                                const MetadataLimits& limits) {
  Collector collector(limits);
  switch (format) {
    case ImageFormat::kJpeg:
      ReadJpeg([file](auto visit) { WalkJpegSegments(file, visit); }, &collector);
      break;
    case ImageFormat::kPng:
      ReadPng(file, &collector);
      break;
    case ImageFormat::kWebp:
      ReadWebp(file, &collector);
      break;
    case ImageFormat::kBmp:
    case ImageFormat::kTiff:
    case ImageFormat::kUnknown:
      break;
  }
  return collector.Release();
}

ImageMetadata ReadJpegMetadata(std::string_view file, const JpegHeaderInfo& header,
                               const MetadataLimits& limits) {
  Collector collector(limits);
  ReadJpeg(
      [&](auto visit) {
        for (const JpegSegment& segment : header.metadata_segments) {
          if (segment.offset + segment.size > file.size()) return;  // not this file's header
          visit(static_cast<uint32_t>(segment.marker), file.substr(segment.offset, segment.size));
        }
      },
      &collector);
  return collector.Release();
}

absl::StatusOr<std::string> EmbedImageMetadata(std::string_view encoded, ImageFormat format,
                                               const ImageMetadata& metadata,
                                               std::vector<std::string>* notes) {
  switch (format) {
    case ImageFormat::kJpeg:
      return EmbedJpeg(encoded, metadata, notes);
    case ImageFormat::kPng:
      return EmbedPng(encoded, metadata, notes);
    case ImageFormat::kWebp:
      return EmbedWebp(encoded, metadata, notes);
    case ImageFormat::kBmp:
    case ImageFormat::kTiff:
    case ImageFormat::kUnknown:
      break;
  }
  return std::string(encoded);
}

std::string ExifWithUprightOrientation(std::string_view tiff) {
  std::string out(tiff);
  const size_t base = StartsWith(tiff, 0, kExifPrefix) ? kExifPrefix.size() : 0;
  bool big_endian;
  if (!TiffByteOrder(tiff.substr(base), &big_endian)) return out;
  const std::optional<size_t> value = OrientationValueOffset(tiff.substr(base), big_endian);
  if (!value) return out;
  out[base + *value] = big_endian ? '\0' : '\1';
  out[base + *value + 1] = big_endian ? '\1' : '\0';
  return out;
}

}  // namespace codiff::image
