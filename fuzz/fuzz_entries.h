// The entry points the fuzzers drive, shared with the corpus replay test
// (tests/unit/fuzz_corpus_replay_test.cc) so that CI replays every committed
// corpus file through exactly the code the fuzzer exercised. Each must never
// crash, hang, throw or read out of bounds, whatever the bytes; where a
// parser promises something about its result (an offset inside the input),
// the entry checks it and aborts when it does not hold, so a broken promise
// is a finding too.
#pragma once

#include <cstddef>
#include <cstdint>

namespace codiff::fuzz {

// Bytes of a would-be torch.save file: the zip directory when it looks like
// a zip (and the data.pkl it names), else one pickle from the start, then
// every pickle that follows (the legacy layout).
void TorchPickleInput(const uint8_t* data, size_t size);

// An uploaded image: ProbeImage, then DecodeImage under small ImageLimits
// (as the server does; small so that a header's claimed size cannot make
// the fuzzer allocate gigabytes legitimately), then RestoreSourceMode.
void ImageDecodeInput(const uint8_t* data, size_t size);

// A would-be JPEG: ParseJpegHeader in both modes, then, when the header
// declares a size under the server's default pixel limit, the first
// component's coefficients (ReadFirstComponentCoefficients).
void JpegInput(const uint8_t* data, size_t size);

// A would-be .safetensors file, in memory (ParseSafetensorsHeader, the
// parser behind SafetensorsFile::Open).
void SafetensorsInput(const uint8_t* data, size_t size);

// The text of a model.yaml: written to a scratch model folder and read with
// ReadModelArchitecture (architecture and provenance).
void ModelYamlInput(const uint8_t* data, size_t size);

// The text of a server config file: written to a scratch file and read with
// LoadServerConfig, then ResolveDeviceDefaults and ValidateServerConfig (what
// start-up does).
void ServerConfigInput(const uint8_t* data, size_t size);

}  // namespace codiff::fuzz
