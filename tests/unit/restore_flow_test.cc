// RestoreFlow without gRPC: each admission refusal, the deadline and
// cancellation, the unchanged path and a plain restore, on the tiny random
// model with a real TileBatcher.
#include "core/runtime/restore_flow.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <future>
#include <memory>
#include <random>
#include <thread>

#include "core/image/image_encoder.h"
#include "core/image/parse_counters.h"
#include "core/models/model_architecture.h"
#include "core/weights/model_folder.h"

namespace codiff::runtime {
namespace {

std::string Jpeg(int width, int height, int quality) {
  image::Image img(width, height, 3);
  std::mt19937 rng(3);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>(rng() % 256);
  auto bytes = image::EncodeImage(img, {image::ImageFormat::kJpeg, quality});
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// A flow over one tiny replica. Work is posted to a thread of its own, as the
// server's work pool would run it.
class Flow {
 public:
  explicit Flow(FlowConfig config, int max_queue = 16, int max_jpeg_quality = 0) {
    BatcherOptions options;
    options.max_batch_size = 4;
    options.max_queue_delay = std::chrono::milliseconds(0);
    options.max_queue_size = max_queue;
    batcher_ = std::make_unique<TileBatcher>(options, nullptr);
    torch::manual_seed(0);
    pipeline::RestorerConfig rc;
    rc.tiles = {64, 16};
    rc.max_jpeg_quality = max_jpeg_quality;
    auto restorer = std::make_unique<pipeline::Restorer>(
        BuildGenerator(*models::PresetArchitecture("tiny")), rc);
    const pipeline::Restorer* preparer = restorer.get();
    std::vector<std::unique_ptr<pipeline::Restorer>> replicas;
    replicas.push_back(std::move(restorer));
    batcher_->Start(std::move(replicas));
    flow_ = std::make_unique<RestoreFlow>(config, batcher_.get(), [](std::function<void()> work) {
      std::thread(std::move(work)).detach();
    });
    flow_->SetPreparer(preparer);
  }

  RestoreFlow& operator*() { return *flow_; }
  RestoreFlow* operator->() { return flow_.get(); }

  // Admits and runs `input`; the admission's status when it is refused.
  absl::StatusOr<RestoreOutput> Restore(const RestoreInput& input) {
    auto admission = flow_->AdmitRestore(input, Clock::now());
    if (!admission.ok()) return admission.status();
    std::promise<absl::StatusOr<RestoreOutput>> promise;
    auto future = promise.get_future();
    flow_->RunRestore(*admission, input, [&promise](absl::StatusOr<RestoreOutput> out) {
      promise.set_value(std::move(out));
    });
    return future.get();
  }

  absl::StatusOr<QfOutput> Estimate(const std::string& image) {
    const Expiry expiry{Clock::time_point::max(), [] { return false; }};
    auto admission = flow_->AdmitEstimate(image, expiry, Clock::now());
    if (!admission.ok()) return admission.status();
    std::promise<absl::StatusOr<QfOutput>> promise;
    auto future = promise.get_future();
    flow_->RunEstimate(*admission, image, expiry, [&promise](absl::StatusOr<QfOutput> out) {
      promise.set_value(std::move(out));
    });
    return future.get();
  }

 private:
  std::unique_ptr<TileBatcher> batcher_;
  std::unique_ptr<RestoreFlow> flow_;
};

FlowConfig Config() {
  FlowConfig config;
  config.image_limits.max_bytes = 1 << 20;
  config.image_limits.max_pixels = 1'000'000;
  config.image_limits.max_side = 2048;
  return config;
}

RestoreInput Input(const std::string& bytes) {
  RestoreInput input;
  input.image = bytes;
  input.options.mode = pipeline::RestoreMode::kFidelity;
  input.encode = {image::ImageFormat::kPng, 0};
  return input;
}

TEST(RestoreFlowTest, RestoresAnImageToItsOwnSize) {
  Flow flow(Config());
  const std::string jpeg = Jpeg(100, 70, 30);
  auto out = flow.Restore(Input(jpeg));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->width, 100);
  EXPECT_EQ(out->height, 70);
  EXPECT_EQ(out->pixels, 7000);
  EXPECT_GT(out->tiles, 0);
  EXPECT_TRUE(out->has_qf);
  EXPECT_TRUE(out->unchanged_reason.empty());
  EXPECT_FALSE(out->image.empty());
}

TEST(RestoreFlowTest, BadBytesAreInvalidArgumentBeforeAnythingIsDecoded) {
  Flow flow(Config());
  const std::string garbage = "definitely not an image";
  EXPECT_EQ(flow.Restore(Input(garbage)).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string truncated = Jpeg(100, 70, 30).substr(0, 40);
  EXPECT_FALSE(flow.Restore(Input(truncated)).ok());
}

TEST(RestoreFlowTest, LimitsAreCheckedFromTheHeader) {
  FlowConfig config = Config();
  config.image_limits.max_pixels = 5000;
  Flow flow(config);
  const std::string big = Jpeg(100, 70, 30);  // 7000 pixels
  const auto status = flow.Restore(Input(big)).status();
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("7000 pixels"), std::string::npos) << status;
  EXPECT_NE(status.message().find("limit is 5000 pixels"), std::string::npos) << status;
  config = Config();
  config.image_limits.max_bytes = 100;
  Flow small_messages(config);
  EXPECT_EQ(small_messages.Restore(Input(big)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(RestoreFlowTest, AnImageOverTheWholeMemoryBudgetIsRefused) {
  FlowConfig config = Config();
  config.memory_budget_bytes = 1000;
  Flow flow(config);
  const std::string jpeg = Jpeg(100, 70, 30);
  const auto status = flow.Restore(Input(jpeg)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("whole budget"), std::string::npos) << status;
}

TEST(RestoreFlowTest, AHeldBudgetAndAFullQueueRefuseTheNextRequest) {
  const std::string jpeg = Jpeg(100, 70, 30);
  {
    Flow flow(Config(), /*max_queue=*/1);
    auto first = flow->AdmitRestore(Input(jpeg), Clock::now());
    ASSERT_TRUE(first.ok()) << first.status();
    const auto second = flow->AdmitRestore(Input(jpeg), Clock::now()).status();
    EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
    EXPECT_NE(second.message().find("queue is full"), std::string::npos) << second;
  }
  // A budget of two and a half requests: two are admitted, the third is
  // refused while they hold it, and admitted once they are gone.
  auto cost = EstimateRestoreCost(100, 70, {64, 16}, static_cast<int64_t>(jpeg.size()));
  ASSERT_TRUE(cost.ok()) << cost.status();
  FlowConfig config = Config();
  config.memory_budget_bytes = cost->memory_bytes * 5 / 2;
  Flow flow(config, /*max_queue=*/64);
  std::vector<std::shared_ptr<Admission>> held;
  for (int i = 0; i < 2; ++i) {
    auto admission = flow->AdmitRestore(Input(jpeg), Clock::now());
    ASSERT_TRUE(admission.ok()) << i << ": " << admission.status();
    held.push_back(*admission);
  }
  const absl::Status refused = flow->AdmitRestore(Input(jpeg), Clock::now()).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_NE(refused.message().find("memory budget is in use"), std::string::npos) << refused;
  held.clear();  // releasing the admissions gives the budget back
  EXPECT_TRUE(flow->AdmitRestore(Input(jpeg), Clock::now()).ok());
}

TEST(RestoreFlowTest, APassedDeadlineAndACancelledCallerComputeNothing) {
  Flow flow(Config());
  const std::string jpeg = Jpeg(100, 70, 30);
  RestoreInput late = Input(jpeg);
  late.expiry.deadline = Clock::now() - std::chrono::seconds(1);
  EXPECT_EQ(flow.Restore(late).status().code(), absl::StatusCode::kDeadlineExceeded);

  // Cancelled after admission: the work pool finds it cancelled.
  RestoreInput input = Input(jpeg);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  input.expiry.cancelled = [cancelled] { return cancelled->load(); };
  auto admission = flow->AdmitRestore(input, Clock::now());
  ASSERT_TRUE(admission.ok()) << admission.status();
  cancelled->store(true);
  std::promise<absl::StatusOr<RestoreOutput>> promise;
  flow->RunRestore(*admission, input, [&promise](absl::StatusOr<RestoreOutput> out) {
    promise.set_value(std::move(out));
  });
  EXPECT_EQ(promise.get_future().get().status().code(), absl::StatusCode::kCancelled);
}

// Issue 31: what admission parses travels with the request. One Restore and
// one EstimateQF each run the project's header parser once and the decoder
// once (before, a JPEG's header was parsed three times per Restore, and
// EstimateQF parsed it again in the server).
TEST(RestoreFlowTest, OneRequestParsesItsHeaderOnceAndDecodesOnce) {
  Flow flow(Config());
  const std::string jpeg = Jpeg(100, 70, 30);
  auto before = image::CurrentParseCounters();
  auto out = flow.Restore(Input(jpeg));
  ASSERT_TRUE(out.ok()) << out.status();
  auto after = image::CurrentParseCounters();
  EXPECT_EQ(after.header_parses - before.header_parses, 1);
  EXPECT_EQ(after.decodes - before.decodes, 1);

  before = image::CurrentParseCounters();
  auto qf = flow.Estimate(jpeg);
  ASSERT_TRUE(qf.ok()) << qf.status();
  after = image::CurrentParseCounters();
  EXPECT_EQ(after.header_parses - before.header_parses, 1);
  EXPECT_EQ(after.decodes - before.decodes, 1);
  // EstimateQF's header facts come from that one parse.
  ASSERT_NE(qf->jpeg_header, nullptr);
  EXPECT_TRUE(qf->jpeg_header->has_qf);
  EXPECT_EQ(qf->jpeg_header->qf, 30);
  EXPECT_TRUE(qf->jpeg_header->qf_exact);
  EXPECT_EQ(qf->jpeg_header->subsampling, "4:2:0");
  EXPECT_EQ(qf->width, 100);

  // A PNG: its header probe once, the decoder once.
  image::Image grey(40, 30, 3);
  const std::string png = *image::EncodeImage(grey, {image::ImageFormat::kPng, 0});
  before = image::CurrentParseCounters();
  ASSERT_TRUE(flow.Restore(Input(png)).ok());
  after = image::CurrentParseCounters();
  EXPECT_EQ(after.header_parses - before.header_parses, 1);
  EXPECT_EQ(after.decodes - before.decodes, 1);
}

TEST(RestoreFlowTest, AJpegAboveTheTrainedQualityComesBackAsDecoded) {
  Flow flow(Config(), 16, /*max_jpeg_quality=*/90);
  const std::string jpeg = Jpeg(100, 70, 98);
  auto out = flow.Restore(Input(jpeg));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_NE(out->unchanged_reason.find("above 90"), std::string::npos) << out->unchanged_reason;
  EXPECT_EQ(out->tiles, 0);
  EXPECT_FALSE(out->has_qf);
  EXPECT_EQ(out->width, 100);
}

}  // namespace
}  // namespace codiff::runtime
