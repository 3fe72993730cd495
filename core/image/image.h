// Plain 8-bit image buffer shared by the decoder, the encoder and the metrics.
//
// Kept free of OpenCV and torch types so that any layer (HTTP handlers, the
// model runner, tests) can include it cheaply.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace codiff::image {

// 8 bits per sample, interleaved, row-major, no row padding:
// sample (x, y, c) lives at data[(y * width + x) * channels + c].
// channels is 1 (grey), 3 (R, G, B) or 4 (R, G, B, A) — always RGB order,
// never OpenCV's BGR.
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> data;

  Image() = default;
  Image(int w, int h, int c)
      : width(w), height(h), channels(c), data(static_cast<size_t>(w) * h * c, 0) {}

  bool empty() const { return data.empty(); }
  size_t index(int x, int y, int c = 0) const {
    return (static_cast<size_t>(y) * width + x) * channels + c;
  }
  uint8_t& at(int x, int y, int c = 0) { return data[index(x, y, c)]; }
  uint8_t at(int x, int y, int c = 0) const { return data[index(x, y, c)]; }
};

}  // namespace codiff::image
