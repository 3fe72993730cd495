// JPEG encodes with explicit quantisation tables, for training on
// quantisation that is not libjpeg's at any quality: cameras, phones,
// editors and video tools write their own tables, per-channel qualities and
// other chroma subsampling. The service decodes whatever it is sent, so the
// model should have seen more than one encoder's tables.
#pragma once

#include <array>
#include <cstdint>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "core/image/image.h"
#include "training/data/pair_dataset.h"

namespace codiff::training {

struct JpegTables {
  std::array<uint16_t, 64> luma{};    // natural order, 1..255
  std::array<uint16_t, 64> chroma{};  // natural order, 1..255
  std::string subsampling = "4:2:0";  // "4:4:4", "4:2:2" or "4:2:0"
  // libjpeg's DCT: "islow" (libjpeg's default), "ifast" or "float".
  std::string dct = "islow";
};

// Tables around libjpeg's at `luma_qf`: chroma at luma_qf +- the spread,
// a random tilt across frequencies (flatter or steeper than libjpeg's
// shape), every entry scaled by exp(N(0, table_jitter)), a subsampling and a
// DCT drawn uniformly. Deterministic in `rng`.
JpegTables DrawJpegTables(const DegradationOptions& options, int luma_qf, std::mt19937_64& rng);

// The nearest libjpeg quality of these tables, as the service's header
// estimate reads it from a file that carries them.
int LabelQuality(const JpegTables& tables);

// Encodes RGB (3 channels) as a baseline JFIF JPEG with exactly these
// tables (no quality scaling).
absl::StatusOr<std::string> EncodeJpegWithTables(const image::Image& rgb, const JpegTables& tables);

}  // namespace codiff::training
