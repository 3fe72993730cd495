#include "core/image/jpeg_header.h"

#include "core/image/parse_counters.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/image/byte_reader.h"
#include "core/util/status_macros.h"

namespace codiff::image {
namespace {

using internal::HasBytes;
using internal::ReadU16;
using internal::ReadU8;
using internal::StartsWith;

// Position k of the zigzag sequence holds this natural (row-major) index.
constexpr std::array<int, 64> kZigzagToNatural = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

// ITU-T T.81 Annex K tables as libjpeg's jcparam.c holds them (natural order).
constexpr std::array<int, 64> kStdLuma = {
    16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
    14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
    18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
constexpr std::array<int, 64> kStdChroma = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
    99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

absl::Status Corrupt(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("corrupt JPEG: ", what));
}
absl::Status Truncated(const std::string& where) {
  return absl::InvalidArgumentError(absl::StrCat("JPEG truncated: file ends ", where));
}

bool IsSof(int marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

std::string MarkerName(int marker) {
  if (IsSof(marker)) return absl::StrFormat("SOF%d", marker - 0xC0);
  if (marker >= 0xE0 && marker <= 0xEF) return absl::StrFormat("APP%d", marker - 0xE0);
  switch (marker) {
    case 0xC4:
      return "DHT";
    case 0xCC:
      return "DAC";
    case 0xDA:
      return "SOS";
    case 0xDB:
      return "DQT";
    case 0xDD:
      return "DRI";
    case 0xDC:
      return "DNL";
    case 0xFE:
      return "COM";
    default:
      return absl::StrFormat("0xFF%02X", marker);
  }
}

std::string DescribeSubsampling(const std::vector<JpegComponent>& comps) {
  if (comps.size() == 1) return "4:0:0";
  int hmax = 1, vmax = 1;
  for (const auto& c : comps) {
    hmax = std::max(hmax, c.h_sampling);
    vmax = std::max(vmax, c.v_sampling);
  }
  // Named ratios only describe Y at full resolution with equal chroma planes.
  const bool named = comps.size() == 3 && comps[0].h_sampling == hmax &&
                     comps[0].v_sampling == vmax && comps[1].h_sampling == comps[2].h_sampling &&
                     comps[1].v_sampling == comps[2].v_sampling &&
                     hmax % comps[1].h_sampling == 0 && vmax % comps[1].v_sampling == 0;
  if (named) {
    const int h = hmax / comps[1].h_sampling;
    const int v = vmax / comps[1].v_sampling;
    if (h == 1 && v == 1) return "4:4:4";
    if (h == 2 && v == 1) return "4:2:2";
    if (h == 2 && v == 2) return "4:2:0";
    if (h == 1 && v == 2) return "4:4:0";
    if (h == 4 && v == 1) return "4:1:1";
    if (h == 4 && v == 2) return "4:1:0";
  }
  bool all_equal = true;
  for (const auto& c : comps) {
    all_equal &= c.h_sampling == comps[0].h_sampling && c.v_sampling == comps[0].v_sampling;
  }
  if (all_equal && comps.size() == 3) return "4:4:4";
  std::string out;
  for (const auto& c : comps) {
    absl::StrAppend(&out, out.empty() ? "" : ",", c.h_sampling, "x", c.v_sampling);
  }
  return out;
}

// Mutable state of the marker walk.
struct Parser {
  JpegHeaderInfo info;
  bool have_frame = false;
  // Current contents of the four DQT slots.
  std::array<bool, 4> slot_defined{};
  std::array<JpegQuantTable, 4> slots{};

  absl::Status ParseSof(int marker, std::string_view seg) {
    if (have_frame) return Corrupt("more than one frame header (SOF)");
    if (seg.size() < 6) return Corrupt("frame header too short");
    const int nf = static_cast<uint8_t>(seg[5]);
    if (nf < 1 || nf > 4) {
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported JPEG: ", nf, " colour components (1 to 4 supported)"));
    }
    if (seg.size() != 6u + 3u * nf) return Corrupt("frame header length mismatch");
    info.sof_marker = marker;
    info.precision = static_cast<uint8_t>(seg[0]);
    info.height = static_cast<int>(*ReadU16(seg, 1, true));
    info.width = static_cast<int>(*ReadU16(seg, 3, true));
    info.components = nf;
    if (info.width == 0) return Corrupt("image width is zero");
    if (info.height == 0) {
      return absl::InvalidArgumentError(
          "unsupported JPEG: height deferred to a DNL marker (height 0 in frame header)");
    }
    const int n = marker - 0xC0;
    info.progressive = n == 2 || n == 6 || n == 10 || n == 14;
    info.lossless = n == 3 || n == 7 || n == 11 || n == 15;
    info.hierarchical = n == 5 || n == 6 || n == 7 || n == 13 || n == 14 || n == 15;
    info.arithmetic = n >= 9;
    for (int i = 0; i < nf; ++i) {
      JpegComponent c;
      c.id = static_cast<uint8_t>(seg[6 + 3 * i]);
      const int hv = static_cast<uint8_t>(seg[7 + 3 * i]);
      c.h_sampling = hv >> 4;
      c.v_sampling = hv & 15;
      c.quant_table_id = static_cast<uint8_t>(seg[8 + 3 * i]);
      if (c.h_sampling < 1 || c.h_sampling > 4 || c.v_sampling < 1 || c.v_sampling > 4) {
        return Corrupt("invalid sampling factors");
      }
      if (c.quant_table_id > 3) return Corrupt("invalid quantisation table index");
      for (const auto& other : info.component_info) {
        if (other.id == c.id) return Corrupt("duplicate component id");
      }
      info.component_info.push_back(c);
    }
    info.subsampling = DescribeSubsampling(info.component_info);
    have_frame = true;
    return absl::OkStatus();
  }

  absl::Status ParseDqt(std::string_view seg) {
    size_t pos = 0;
    if (seg.empty()) return Corrupt("empty quantisation table segment");
    while (pos < seg.size()) {
      const int pq_tq = static_cast<uint8_t>(seg[pos++]);
      const int pq = pq_tq >> 4;
      const int tq = pq_tq & 15;
      if (pq > 1) return Corrupt("quantisation table precision must be 8 or 16 bits");
      if (tq > 3) return Corrupt("quantisation table index above 3");
      const size_t entry_bytes = pq == 0 ? 1 : 2;
      if (!HasBytes(seg, pos, 64 * entry_bytes)) return Corrupt("quantisation table cut short");
      JpegQuantTable t;
      t.id = tq;
      t.precision = pq == 0 ? 8 : 16;
      for (int k = 0; k < 64; ++k) {
        const uint32_t v = pq == 0 ? *ReadU8(seg, pos + k) : *ReadU16(seg, pos + 2 * k, true);
        t.natural[kZigzagToNatural[k]] = static_cast<uint16_t>(v);
      }
      pos += 64 * entry_bytes;
      slots[tq] = t;
      slot_defined[tq] = true;
    }
    return absl::OkStatus();
  }

  static absl::Status ParseDht(std::string_view seg) {
    size_t pos = 0;
    if (seg.empty()) return Corrupt("empty Huffman table segment");
    while (pos < seg.size()) {
      const int tc_th = static_cast<uint8_t>(seg[pos++]);
      if ((tc_th >> 4) > 1 || (tc_th & 15) > 3) return Corrupt("invalid Huffman table class/index");
      if (!HasBytes(seg, pos, 16)) return Corrupt("Huffman table cut short");
      size_t total = 0;
      for (int i = 0; i < 16; ++i) total += static_cast<uint8_t>(seg[pos + i]);
      pos += 16;
      if (total > 256 || !HasBytes(seg, pos, total)) return Corrupt("Huffman table cut short");
      pos += total;
    }
    return absl::OkStatus();
  }

  // Decoders bind a component's quantisation table when the component first
  // appears in a scan, so a later DQT re-using the slot does not affect it.
  absl::Status Latch(JpegComponent& c) {
    if (c.quant_table_index >= 0) return absl::OkStatus();
    if (!slot_defined[c.quant_table_id]) {
      return Corrupt(absl::StrCat("component uses quantisation table ", c.quant_table_id,
                                  " which is never defined"));
    }
    const JpegQuantTable& t = slots[c.quant_table_id];
    for (size_t i = 0; i < info.quant_tables.size(); ++i) {
      const auto& q = info.quant_tables[i];
      if (q.id == t.id && q.precision == t.precision && q.natural == t.natural) {
        c.quant_table_index = static_cast<int>(i);
        return absl::OkStatus();
      }
    }
    info.quant_tables.push_back(t);
    c.quant_table_index = static_cast<int>(info.quant_tables.size() - 1);
    return absl::OkStatus();
  }

  absl::Status ParseSos(std::string_view seg) {
    if (!have_frame) return Corrupt("scan (SOS) before frame header (SOF)");
    if (seg.empty()) return Corrupt("scan header too short");
    const int ns = static_cast<uint8_t>(seg[0]);
    if (ns < 1 || ns > 4 || seg.size() != 4u + 2u * ns) return Corrupt("invalid scan header");
    for (int i = 0; i < ns; ++i) {
      const int cs = static_cast<uint8_t>(seg[1 + 2 * i]);
      auto it = std::find_if(info.component_info.begin(), info.component_info.end(),
                             [cs](const JpegComponent& c) { return c.id == cs; });
      if (it == info.component_info.end()) return Corrupt("scan refers to an unknown component");
      if (!info.lossless) RETURN_IF_ERROR(Latch(*it));
    }
    ++info.scans;
    return absl::OkStatus();
  }
};

// Scans entropy-coded data starting at `pos`; returns the offset of the
// marker that ends the scan. Stuffed 0xFF00, RSTn and fill bytes stay inside.
absl::StatusOr<size_t> SkipEntropyData(std::string_view bytes, size_t pos) {
  const size_t n = bytes.size();
  while (true) {
    if (pos >= n) return Truncated("inside the compressed image data");
    const void* hit = std::memchr(bytes.data() + pos, 0xFF, n - pos);
    if (hit == nullptr) return Truncated("inside the compressed image data");
    const size_t p = static_cast<size_t>(static_cast<const char*>(hit) - bytes.data());
    if (p + 1 >= n) return Truncated("inside the compressed image data");
    const int next = static_cast<uint8_t>(bytes[p + 1]);
    if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
      pos = p + 2;
    } else if (next == 0xFF) {
      pos = p + 1;
    } else {
      return p;
    }
  }
}

void EstimateQuality(JpegHeaderInfo& info) {
  if (info.lossless || info.component_info.empty()) return;
  const JpegComponent& c0 = info.component_info[0];
  if (c0.quant_table_index < 0) return;
  const JpegQuantTable& luma = info.quant_tables[c0.quant_table_index];
  const JpegQuantTable* chroma = nullptr;
  if (info.component_info.size() >= 3) {
    const JpegComponent& c1 = info.component_info[1];
    // One table shared by all components carries no chroma information.
    if (c1.quant_table_index >= 0 && c1.quant_table_index != c0.quant_table_index) {
      chroma = &info.quant_tables[c1.quant_table_index];
    }
  }
  const IjgQualityEstimate e = EstimateIjgQuality(luma, chroma);
  info.has_qf = true;
  info.qf = e.qf;
  info.qf_exact = e.exact;
  info.qf_distance = e.distance;
}

}  // namespace

double IjgQualityScale(double quality) {
  return quality < 50 ? 5000.0 / quality : 200.0 - 2.0 * quality;
}

double IjgQualityForScale(double scale) {
  return scale > 100.0 ? 5000.0 / scale : (200.0 - scale) / 2.0;
}

std::array<uint16_t, 64> IjgScaledTable(int q, bool chroma, bool force_baseline) {
  q = std::clamp(q, 1, 100);
  // 5000 / q is never within rounding error of the next integer down, so this
  // equals libjpeg's integer division.
  const long scale = static_cast<long>(IjgQualityScale(q));
  const auto& base = chroma ? kStdChroma : kStdLuma;
  std::array<uint16_t, 64> out{};
  for (int i = 0; i < 64; ++i) {
    long v = (base[i] * scale + 50) / 100;
    v = std::clamp(v, 1L, force_baseline ? 255L : 32767L);
    out[i] = static_cast<uint16_t>(v);
  }
  return out;
}

IjgQualityEstimate EstimateIjgQuality(const JpegQuantTable& luma, const JpegQuantTable* chroma) {
  const bool force_baseline = luma.precision == 8 && (chroma == nullptr || chroma->precision == 8);
  IjgQualityEstimate best;
  best.distance = 1e300;
  for (int q = 1; q <= 100; ++q) {
    long sum = 0;
    int count = 0;
    const auto lt = IjgScaledTable(q, false, force_baseline);
    for (int i = 0; i < 64; ++i) sum += std::labs(static_cast<long>(luma.natural[i]) - lt[i]);
    count += 64;
    if (chroma != nullptr) {
      const auto ct = IjgScaledTable(q, true, force_baseline);
      for (int i = 0; i < 64; ++i) sum += std::labs(static_cast<long>(chroma->natural[i]) - ct[i]);
      count += 64;
    }
    const double d = static_cast<double>(sum) / count;
    if (d <= best.distance) {  // "<=": ties go to the higher quality.
      best.qf = q;
      best.distance = d;
      best.exact = sum == 0;
    }
  }
  return best;
}

absl::StatusOr<JpegHeaderInfo> ParseJpegHeader(std::string_view bytes, JpegParseMode mode) {
  internal::CountHeaderParse();
  if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != 0xFF ||
      static_cast<uint8_t>(bytes[1]) != 0xD8) {
    return absl::InvalidArgumentError("not a JPEG file (no SOI marker)");
  }
  Parser p;
  const size_t n = bytes.size();
  size_t pos = 2;
  while (true) {
    // libjpeg skips stray bytes before a marker (with a warning); so do we,
    // but running out of bytes here means the file was cut.
    while (pos < n && static_cast<uint8_t>(bytes[pos]) != 0xFF) ++pos;
    while (pos < n && static_cast<uint8_t>(bytes[pos]) == 0xFF) ++pos;
    if (pos >= n)
      return Truncated(p.info.scans > 0 ? "before the end-of-image marker"
                                        : "before any image data");
    const int marker = static_cast<uint8_t>(bytes[pos++]);
    if (marker == 0x00) continue;  // Stuffed byte outside a scan: garbage.
    if (marker == 0xD8) return Corrupt("second start-of-image marker");
    if (marker == 0xD9) {
      if (!p.have_frame) return Corrupt("no frame header before end of image");
      if (p.info.scans == 0) return Corrupt("no image data (no scan) before end of image");
      p.info.eoi_end = pos;
      break;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // No length field.

    const auto len = ReadU16(bytes, pos, true);
    if (!len) return Truncated(absl::StrCat("inside a ", MarkerName(marker), " segment"));
    if (*len < 2) return Corrupt(absl::StrCat(MarkerName(marker), " segment length below 2"));
    if (!HasBytes(bytes, pos, *len)) {
      return Truncated(absl::StrCat("inside a ", MarkerName(marker), " segment"));
    }
    const size_t seg_offset = pos + 2;
    const std::string_view seg = bytes.substr(seg_offset, *len - 2);
    pos += *len;

    if ((marker == 0xE1 || marker == 0xE2 || marker == 0xED) && p.info.scans == 0) {
      p.info.metadata_segments.push_back({marker, seg_offset, seg.size()});
    }
    if (IsSof(marker)) {
      RETURN_IF_ERROR(p.ParseSof(marker, seg));
    } else if (marker == 0xDB) {
      RETURN_IF_ERROR(p.ParseDqt(seg));
    } else if (marker == 0xC4) {
      RETURN_IF_ERROR(Parser::ParseDht(seg));
    } else if (marker == 0xDD) {
      if (seg.size() != 2) return Corrupt("restart interval segment has wrong length");
      p.info.restart_interval = static_cast<int>(*ReadU16(seg, 0, true));
    } else if (marker == 0xE0) {
      if (StartsWith(seg, 0, std::string_view("JFIF\0", 5))) p.info.has_jfif = true;
    } else if (marker == 0xE1) {
      constexpr std::string_view kExif("Exif\0\0", 6);
      if (p.info.exif_size == 0 && StartsWith(seg, 0, kExif) && seg.size() > kExif.size()) {
        p.info.exif_offset = seg_offset + kExif.size();
        p.info.exif_size = seg.size() - kExif.size();
      }
    } else if (marker == 0xEE) {
      if (StartsWith(seg, 0, "Adobe") && seg.size() >= 12) {
        p.info.adobe_transform = static_cast<uint8_t>(seg[11]);
      }
    } else if (marker == 0xDA) {
      RETURN_IF_ERROR(p.ParseSos(seg));
      if (mode == JpegParseMode::kHeaderOnly) break;
      ASSIGN_OR_RETURN(pos, SkipEntropyData(bytes, pos));
    }
    // DNL, COM, DAC, other APPn and reserved markers: length-skipped.
  }
  if (!p.have_frame) return Corrupt("no frame header");
  // Components never scanned (possible in kHeaderOnly mode, or a broken file)
  // report the table their slot holds now.
  for (auto& c : p.info.component_info) {
    if (c.quant_table_index < 0 && p.slot_defined[c.quant_table_id] && !p.info.lossless) {
      RETURN_IF_ERROR(p.Latch(c));
    }
  }
  EstimateQuality(p.info);
  return std::move(p.info);
}

}  // namespace codiff::image
