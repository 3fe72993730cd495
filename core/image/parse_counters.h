// How often this process ran the project's own image parsers: the JPEG
// marker walk (ParseJpegHeader and the metadata reader's walk when it has no
// parsed header), the other formats' header probes, and the decoder. Tests
// read them to check that one request parses its header once and decodes
// its image once; relaxed atomics, so counting costs nothing measurable.
#pragma once

#include <cstdint>

namespace codiff::image {

struct ParseCounters {
  int64_t header_parses = 0;
  int64_t decodes = 0;
};

ParseCounters CurrentParseCounters();

namespace internal {
void CountHeaderParse();
void CountDecode();
}  // namespace internal

}  // namespace codiff::image
