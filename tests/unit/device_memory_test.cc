// Replicas' compute budgets: CPU replicas from the host's, GPU replicas from
// their own GPU's free memory (injected here; no GPU needed).
#include "core/runtime/device_memory.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/models/model_architecture.h"
#include "core/pipeline/restorer.h"
#include "core/weights/model_folder.h"

namespace codiff::runtime {
namespace {

constexpr int64_t kGB = 1000 * 1000 * 1000;

DeviceMemoryQuery FakeGpus(int64_t cuda0_free, int64_t cuda1_free) {
  return [=](const torch::Device& d) -> absl::StatusOr<DeviceMemoryInfo> {
    if (d.str() == "cuda:0") return DeviceMemoryInfo{cuda0_free, 80 * kGB};
    if (d.str() == "cuda:1") return DeviceMemoryInfo{cuda1_free, 80 * kGB};
    return absl::UnavailableError("no such device");
  };
}

TEST(DeviceMemoryTest, GpuReplicasShareTheirOwnGpusFreeMemory) {
  const std::vector<torch::Device> devices = {torch::Device("cuda:0"), torch::Device("cuda:0"),
                                              torch::Device("cuda:1")};
  const ReplicaWorkingMemory plan = PlanReplicaWorkingMemory(
      devices, /*host_working_bytes=*/4 * kGB, FakeGpus(60 * kGB, 20 * kGB));
  ASSERT_EQ(plan.bytes.size(), 3u);
  // 80% of 60 GB between two replicas; 80% of 20 GB for one. Not the host's 4 GB.
  EXPECT_EQ(plan.bytes[0], 24 * kGB);
  EXPECT_EQ(plan.bytes[1], 24 * kGB);
  EXPECT_EQ(plan.bytes[2], 16 * kGB);
  EXPECT_EQ(plan.sources[0], "cuda:0: 60.0 GB free of 80.0 GB, 2 replicas");
  EXPECT_EQ(plan.sources[2], "cuda:1: 20.0 GB free of 80.0 GB, 1 replica");
}

TEST(DeviceMemoryTest, CpuReplicasShareTheHostBudget) {
  const ReplicaWorkingMemory plan = PlanReplicaWorkingMemory(
      {torch::Device("cpu"), torch::Device("cpu"), torch::Device("cuda:0")}, 6 * kGB,
      FakeGpus(10 * kGB, 0));
  EXPECT_EQ(plan.bytes, (std::vector<int64_t>{3 * kGB, 3 * kGB, 8 * kGB}));
  EXPECT_EQ(plan.sources[0], "host");
}

TEST(DeviceMemoryTest, UnreadableGpuMemoryLeavesTheComputeUnbounded) {
  const ReplicaWorkingMemory plan =
      PlanReplicaWorkingMemory({torch::Device("cuda:2")}, 6 * kGB, FakeGpus(10 * kGB, 10 * kGB));
  EXPECT_EQ(plan.bytes, (std::vector<int64_t>{0}));
  EXPECT_NE(plan.sources[0].find("memory unknown"), std::string::npos) << plan.sources[0];
}

TEST(DeviceMemoryTest, CpuHasNoDeviceMemoryOfItsOwn) {
  EXPECT_EQ(QueryDeviceMemory(torch::kCPU).status().code(), absl::StatusCode::kUnavailable);
}

// The GPU's budget sizes the replica's batches as the host's does on a CPU:
// a small GPU gets smaller batches.
TEST(DeviceMemoryTest, TheGpusBudgetSizesTheReplicasBatches) {
  const auto batch_for = [](int64_t free_bytes) {
    const ReplicaWorkingMemory plan =
        PlanReplicaWorkingMemory({torch::Device("cuda:0")}, 64 * kGB, FakeGpus(free_bytes, 0));
    pipeline::RestorerConfig config;
    config.tiles = {512, 64};
    config.max_batch_tiles = 16;
    config.working_memory_bytes = plan.bytes[0];
    pipeline::Restorer restorer(BuildGenerator(*models::PresetArchitecture("tiny")), config);
    return restorer.config().max_batch_tiles;
  };
  const int roomy = batch_for(64 * kGB);
  const int tight = batch_for(kGB / 10);
  EXPECT_EQ(roomy, 16);
  EXPECT_LT(tight, roomy);
  EXPECT_GE(tight, 1);
}

}  // namespace
}  // namespace codiff::runtime
