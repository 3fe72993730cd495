// An accelerator's memory, and how a server's replicas on it share it. A
// GPU replica's compute is bounded by that GPU's memory, not by the host's
// RSS budget (which bounds the requests' decoded images and tiles).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace codiff::runtime {

struct DeviceMemoryInfo {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};

// What the driver reports for `device` (cudaMemGetInfo, through the CUDA
// runtime the linked LibTorch loaded). Unavailable for a CPU, or where no
// CUDA runtime is loaded (Debian's CPU-only LibTorch).
absl::StatusOr<DeviceMemoryInfo> QueryDeviceMemory(const torch::Device& device);

using DeviceMemoryQuery = std::function<absl::StatusOr<DeviceMemoryInfo>(const torch::Device&)>;

// Of a GPU's free memory once the weights are on it, the share its replicas'
// compute may plan for; the rest is headroom for cuDNN's workspaces, the
// caching allocator's fragmentation and the CUDA context's own growth.
inline constexpr double kDeviceComputeShare = 0.8;

struct ReplicaWorkingMemory {
  // Per replica, in the order given: bytes its compute may use above its
  // weights (0 = unbounded: a GPU whose memory could not be read).
  std::vector<int64_t> bytes;
  // Per replica: "host" or what the device reported ("cuda:0: 61.2 GB free
  // of 79.1 GB, 2 replicas").
  std::vector<std::string> sources;
};

// CPU replicas share `host_working_bytes` evenly. Each GPU's replicas share
// kDeviceComputeShare of the free memory `query` reports for it (called
// after every replica's weights are on their devices).
ReplicaWorkingMemory PlanReplicaWorkingMemory(const std::vector<torch::Device>& devices,
                                              int64_t host_working_bytes,
                                              const DeviceMemoryQuery& query = QueryDeviceMemory);

}  // namespace codiff::runtime
