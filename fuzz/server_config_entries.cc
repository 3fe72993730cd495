// Fuzz entry for the server config file: ServerConfigInput
// (fuzz/fuzz_entries.h).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_entries.h"
#include "fuzz/scratch_dir.h"
#include "server/server_config.h"

namespace codiff::fuzz {

void ServerConfigInput(const uint8_t* data, size_t size) {
  // LoadServerConfig reads a path (yaml-cpp's LoadFile).
  auto config = server::LoadServerConfig(WriteScratchFile("server-config.yaml", data, size));
  if (!config.ok()) return;
  server::ResolveDeviceDefaults(&*config);
  FUZZ_CHECK(config->batching.max_batch_size != 0);
  if (!server::ValidateServerConfig(*config).ok()) return;
  FUZZ_CHECK(!config->devices.empty());
  FUZZ_CHECK(config->replicas_per_device >= 1 && config->worker_threads >= 1);
}

}  // namespace codiff::fuzz
