// Fuzz entry for model.yaml: ModelYamlInput (fuzz/fuzz_entries.h).
#include <cstddef>
#include <cstdint>

#include "core/weights/model_folder.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_entries.h"
#include "fuzz/scratch_dir.h"

namespace codiff::fuzz {

void ModelYamlInput(const uint8_t* data, size_t size) {
  // ReadModelArchitecture reads <dir>/model.yaml.
  WriteScratchFile("model.yaml", data, size);
  ModelProvenance provenance;
  auto arch = ReadModelArchitecture(ScratchDir(), &provenance);
  if (!arch.ok()) return;
  FUZZ_CHECK(provenance.default_mode == "perceptual" || provenance.default_mode == "fidelity");
  FUZZ_CHECK(provenance.trained_qf_min >= 0 &&
             provenance.trained_qf_min <= provenance.trained_qf_max);
  FUZZ_CHECK(provenance.trained_qf_max <= 100);
}

}  // namespace codiff::fuzz
