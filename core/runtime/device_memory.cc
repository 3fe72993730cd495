#include "core/runtime/device_memory.h"

#include <dlfcn.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace codiff::runtime {
namespace {

// The CUDA runtime's C entry points, looked up in the copy LibTorch already
// loaded (RTLD_NOLOAD), so that a CPU build needs no CUDA headers or
// libraries and a CUDA build reads the same runtime its kernels use.
struct CudaRuntime {
  int (*get_device)(int*) = nullptr;
  int (*set_device)(int) = nullptr;
  int (*mem_get_info)(size_t*, size_t*) = nullptr;
  bool ok() const { return get_device && set_device && mem_get_info; }
};

const CudaRuntime& Runtime() {
  static const CudaRuntime runtime = [] {
    CudaRuntime r;
    for (const char* name :
         {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"}) {
      void* handle = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
      if (handle == nullptr) continue;
      r.get_device = reinterpret_cast<int (*)(int*)>(dlsym(handle, "cudaGetDevice"));
      r.set_device = reinterpret_cast<int (*)(int)>(dlsym(handle, "cudaSetDevice"));
      r.mem_get_info = reinterpret_cast<int (*)(size_t*, size_t*)>(dlsym(handle, "cudaMemGetInfo"));
      if (r.ok()) break;
    }
    return r;
  }();
  return runtime;
}

std::string Gigabytes(int64_t bytes) { return absl::StrFormat("%.1f GB", bytes / 1e9); }

}  // namespace

absl::StatusOr<DeviceMemoryInfo> QueryDeviceMemory(const torch::Device& device) {
  if (!device.is_cuda()) {
    return absl::UnavailableError(absl::StrCat(device.str(), " has no device memory of its own"));
  }
  const CudaRuntime& cuda = Runtime();
  if (!cuda.ok()) {
    return absl::UnavailableError("no CUDA runtime is loaded in this process");
  }
  int previous = 0;
  if (cuda.get_device(&previous) != 0) return absl::UnavailableError("cudaGetDevice failed");
  const int index = device.has_index() ? device.index() : previous;
  if (cuda.set_device(index) != 0) {
    return absl::UnavailableError(absl::StrCat("cudaSetDevice(", index, ") failed"));
  }
  size_t free = 0, total = 0;
  const int rc = cuda.mem_get_info(&free, &total);
  cuda.set_device(previous);
  if (rc != 0) return absl::UnavailableError(absl::StrCat("cudaMemGetInfo failed (", rc, ")"));
  return DeviceMemoryInfo{static_cast<int64_t>(free), static_cast<int64_t>(total)};
}

ReplicaWorkingMemory PlanReplicaWorkingMemory(const std::vector<torch::Device>& devices,
                                              int64_t host_working_bytes,
                                              const DeviceMemoryQuery& query) {
  int64_t cpu_replicas = 0;
  std::map<std::string, int64_t> per_device;
  for (const torch::Device& d : devices) {
    if (d.is_cpu()) {
      ++cpu_replicas;
    } else {
      ++per_device[d.str()];
    }
  }
  std::map<std::string, absl::StatusOr<DeviceMemoryInfo>> reported;
  for (const auto& [name, count] : per_device) reported.emplace(name, query(torch::Device(name)));
  ReplicaWorkingMemory plan;
  for (const torch::Device& d : devices) {
    if (d.is_cpu()) {
      plan.bytes.push_back(std::max<int64_t>(host_working_bytes / cpu_replicas, 1));
      plan.sources.push_back("host");
      continue;
    }
    const int64_t replicas = per_device.at(d.str());
    const absl::StatusOr<DeviceMemoryInfo>& info = reported.at(d.str());
    if (!info.ok()) {
      plan.bytes.push_back(0);
      plan.sources.push_back(absl::StrCat(d.str(), ": memory unknown (", info.status().message(),
                                          "); compute sizes not bounded"));
      continue;
    }
    const double share = static_cast<double>(info->free_bytes) * kDeviceComputeShare;
    plan.bytes.push_back(std::max<int64_t>(static_cast<int64_t>(share / replicas), 1));
    plan.sources.push_back(absl::StrCat(d.str(), ": ", Gigabytes(info->free_bytes), " free of ",
                                        Gigabytes(info->total_bytes), ", ", replicas,
                                        replicas == 1 ? " replica" : " replicas"));
  }
  return plan;
}

}  // namespace codiff::runtime
