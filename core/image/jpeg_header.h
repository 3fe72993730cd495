// JPEG marker-stream analysis without decoding any pixels: frame geometry,
// chroma subsampling, quantisation tables and the IJG quality factor they
// imply. Used to probe dimensions before decoding, to detect truncated files
// and to pick the restoration strength from the original quality.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace codiff::image {

struct JpegQuantTable {
  int id = 0;         // Tq slot, 0..3.
  int precision = 8;  // Bits per entry: 8 (Pq=0) or 16 (Pq=1).
  // Natural order: row-major 8x8 frequency layout, entry 0 is DC. The file
  // stores zigzag order; it is de-zigzagged on parse.
  std::array<uint16_t, 64> natural{};
};

struct JpegComponent {
  int id = 0;
  int h_sampling = 1;
  int v_sampling = 1;
  int quant_table_id = 0;
  // Index into JpegHeaderInfo::quant_tables of the table this component used
  // (latched at its first scan, as decoders do); -1 if never latched.
  int quant_table_index = -1;
};

// A segment's payload (after its length field) in the parsed buffer.
struct JpegSegment {
  int marker = 0;  // 0xE1 (EXIF, XMP), 0xE2 (ICC), 0xED (IPTC)
  size_t offset = 0;
  size_t size = 0;
};

struct JpegHeaderInfo {
  int width = 0;
  int height = 0;
  int components = 0;
  int precision = 8;   // Sample precision P from the frame header.
  int sof_marker = 0;  // 0xC0..0xCF (the SOFn that defined the frame).
  bool progressive = false;
  bool arithmetic = false;
  bool lossless = false;
  bool hierarchical = false;
  // "4:4:4", "4:2:2", "4:2:0", "4:4:0", "4:1:1", "4:1:0", "4:0:0" (grey);
  // anything else as per-component HxV factors, e.g. "2x2,1x1,1x2".
  std::string subsampling;
  std::vector<JpegComponent> component_info;
  std::vector<JpegQuantTable> quant_tables;
  int restart_interval = 0;
  int scans = 0;  // SOS segments seen.
  bool has_jfif = false;
  int adobe_transform = -1;  // APP14 "Adobe" transform flag, -1 when absent.
  // First APP1 "Exif" payload, located in the parsed buffer as the TIFF
  // structure after the "Exif\0\0" prefix; exif_size == 0 when absent.
  size_t exif_offset = 0;
  size_t exif_size = 0;
  // The APP1, APP2 and APP13 segments before the first scan, in file order:
  // where the metadata reader finds EXIF, XMP, ICC and IPTC without walking
  // the file again.
  std::vector<JpegSegment> metadata_segments;
  // Offset just past the EOI marker (0 in kHeaderOnly mode). Bytes after it
  // are ignored, as libjpeg does.
  size_t eoi_end = 0;

  // Quality factor under standard IJG scaling (see EstimateIjgQuality).
  bool has_qf = false;
  int qf = 0;
  bool qf_exact = false;
  double qf_distance = 0.0;
};

enum class JpegParseMode {
  // Walk every segment and the entropy-coded data of every scan up to EOI;
  // a file that ends early is reported as truncated.
  kFull,
  // Stop after the first SOS header: enough for geometry and tables.
  kHeaderOnly,
};

// Errors are InvalidArgument with a message fit for an end user, e.g.
// "not a JPEG file (no SOI marker)", "JPEG truncated: file ends inside the
// compressed image data", "corrupt JPEG: ...".
absl::StatusOr<JpegHeaderInfo> ParseJpegHeader(std::string_view bytes,
                                               JpegParseMode mode = JpegParseMode::kFull);

struct IjgQualityEstimate {
  int qf = 0;             // 1..100.
  bool exact = false;     // Every compared entry equals libjpeg's table for qf.
  double distance = 0.0;  // Mean |table - scaled standard table| over compared entries.
};

// Finds the IJG quality factor whose scaled standard tables best match
// `luma` (and `chroma`, when non-null). libjpeg (jpeg_set_quality) scales by
// s = q < 50 ? 5000 / q : 200 - 2q and sets entry = clamp((base * s + 50) / 100,
// 1, 255), or clamp to 32767 when force_baseline is off — assumed when any
// given table has 16-bit precision. Every q in 1..100 yields a distinct
// (luma, chroma) pair and a distinct luma table alone, so an exact match is
// unique; among equally distant inexact matches the highest q wins.
IjgQualityEstimate EstimateIjgQuality(const JpegQuantTable& luma, const JpegQuantTable* chroma);

// libjpeg's quality scaling (jpeg_quality_scaling) without its integer
// truncation: the percentage the base tables are multiplied by at `quality`
// (1..100), and its inverse. IjgScaledTable truncates it as libjpeg does.
double IjgQualityScale(double quality);
double IjgQualityForScale(double scale);

// libjpeg's table for quality q (1..100), natural order. `chroma` selects the
// chrominance base table; `force_baseline` clamps to 255 instead of 32767.
std::array<uint16_t, 64> IjgScaledTable(int q, bool chroma, bool force_baseline = true);

}  // namespace codiff::image
