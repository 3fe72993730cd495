// ServedModel (issue 31): a model folder loaded, its memory planned and
// warmed up, the flow taking requests; refusals name what to change.
#include "core/runtime/served_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <future>
#include <random>
#include <thread>

#include "core/image/image_encoder.h"
#include "core/models/model_architecture.h"
#include "tests/test_support.h"

namespace codiff::runtime {
namespace {

std::string TinyFolder() {
  const std::string dir = testing::MakeTempDir("served") + "/tiny";
  torch::manual_seed(2);
  models::OneStepGenerator g = BuildGenerator(*models::PresetArchitecture("tiny"));
  EXPECT_TRUE(WriteModelFolder(dir, *g, {true, "served_model_test", "unit test"}).ok());
  return dir;
}

RestoreFlow::Post Thread() {
  return [](std::function<void()> work) { std::thread(std::move(work)).detach(); };
}

ServedModelConfig Config(const std::string& dir) {
  ServedModelConfig config;
  config.model_dir = dir;
  config.batching.max_batch_size = 2;
  config.image_limits.max_bytes = 1 << 20;
  config.image_limits.max_pixels = 1'000'000;
  config.image_limits.max_side = 2048;
  config.max_memory_bytes = 4ll << 30;
  return config;
}

TEST(ServedModelTest, LoadsPlansMemoryAndRestores) {
  auto served = ServedModel::Load(Config(TinyFolder()), Thread(), nullptr);
  ASSERT_TRUE(served.ok()) << served.status();
  const ModelFacts& facts = (*served)->facts();
  EXPECT_EQ(facts.preset, "tiny");
  EXPECT_TRUE(facts.trained);
  EXPECT_EQ(facts.replicas, 1);
  EXPECT_GT(facts.parameters, 0);
  const MemoryPlan& memory = (*served)->memory();
  EXPECT_EQ(memory.max_memory_bytes, 4ll << 30);
  EXPECT_GT(memory.resident_after_warmup, 0);
  EXPECT_EQ(memory.for_requests,
            memory.max_memory_bytes - memory.resident_after_warmup - memory.compute_reserve);
  EXPECT_FALSE((*served)->strategy().empty());

  image::Image img(64, 48, 3);
  std::mt19937 rng(1);
  for (auto& v : img.data) v = static_cast<uint8_t>(rng() % 256);
  const std::string jpeg = *image::EncodeImage(img, {image::ImageFormat::kJpeg, 30});
  RestoreInput input;
  input.image = jpeg;
  input.options.mode = pipeline::RestoreMode::kFidelity;
  input.encode = {image::ImageFormat::kPng, 0};
  RestoreFlow& flow = (*served)->flow();
  auto admission = flow.AdmitRestore(input, Clock::now());
  ASSERT_TRUE(admission.ok()) << admission.status();
  std::promise<absl::StatusOr<RestoreOutput>> promise;
  flow.RunRestore(*admission, input,
                  [&promise](absl::StatusOr<RestoreOutput> out) { promise.set_value(out); });
  auto out = promise.get_future().get();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 64);
  EXPECT_EQ(out->height, 48);
}

TEST(ServedModelTest, RefusalsNameTheFolderOrTheSetting) {
  auto missing = ServedModel::Load(Config("/nonexistent/model"), Thread(), nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/model"), std::string::npos)
      << missing.status();

  ServedModelConfig tight = Config(TinyFolder());
  tight.max_memory_bytes = 1 << 20;  // less than the process already holds
  auto refused = ServedModel::Load(tight, Thread(), nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("max_memory_bytes"), std::string::npos);

  ServedModelConfig bad_device = Config(TinyFolder());
  bad_device.devices = {"tpu:0"};
  EXPECT_FALSE(ServedModel::Load(bad_device, Thread(), nullptr).ok());
}

}  // namespace
}  // namespace codiff::runtime
