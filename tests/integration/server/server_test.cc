// The real codiff-server binary on loopback, driven by generated C++ stubs
// (and one Python client). Every server here uses the tiny random model and
// small images, so the whole file runs in well under a minute on 2 cores.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "codiff/v1/codiff.grpc.pb.h"
#include "core/image/image_decoder.h"
#include "core/image/image_encoder.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/integration/server/server_process.h"
#include "tests/test_support.h"

namespace codiff::testing {
namespace {

namespace v1 = ::codiff::v1;
using Clock = std::chrono::steady_clock;

std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

grpc::Status Restore(v1::Restoration::Stub& stub, const std::string& image,
                     v1::RestoreResponse* response,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::RestoreRequest request;
  request.set_image(image);
  return stub.Restore(&context, request, response);
}

// One server shared by the functional tests (batching and overload tests
// start their own, differently configured).
class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = StartTinyServer(
                  "limits:\n  max_pixels: 250000\nbatching:\n  max_queue_delay_ms: 2\n"
                  "reflection: true\n")
                  .release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->address());
    stub_ = v1::Restoration::NewStub(channel_);
  }
  static ServerProcess* server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Restoration::Stub> stub_;
};
ServerProcess* ServerTest::server_ = nullptr;

TEST_F(ServerTest, RestoreJpegReturnsPngOfTheSameSize) {
  v1::RestoreResponse response;
  const auto status = Restore(*stub_, MakeJpeg(100, 72, 30), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.format(), v1::IMAGE_FORMAT_PNG);
  auto decoded = image::DecodeImage(response.image());
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->format, image::ImageFormat::kPng);
  EXPECT_EQ(decoded->rgb.width, 100);
  EXPECT_EQ(decoded->rgb.height, 72);
  EXPECT_EQ(response.width(), 100);
  EXPECT_EQ(response.height(), 72);
  EXPECT_GE(response.tile_count(), 1);
  EXPECT_GT(response.timings().total_seconds(), 0);
}

// The tiny random model's output is far from any JPEG, so the luma
// projection must change it; skip_jpeg_consistency returns it untouched.
TEST_F(ServerTest, SkipJpegConsistencyReturnsTheRawModelOutput) {
  const std::string jpeg = MakeJpeg(96, 64, 30);
  std::string images[2];
  for (bool skip : {false, true}) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::RestoreRequest request;
    request.set_image(jpeg);
    request.mutable_options()->set_skip_jpeg_consistency(skip);
    v1::RestoreResponse response;
    const auto status = stub_->Restore(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    images[skip] = response.image();
  }
  EXPECT_NE(images[0], images[1]);
}

TEST_F(ServerTest, RestoreStreamAnswersEveryImageWithItsId) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  auto stream = stub_->RestoreStream(&context);
  constexpr int kImages = 20;
  constexpr int kBad = 7;  // one bad image fails only its own response
  for (int i = 0; i < kImages; ++i) {
    v1::RestoreRequest request;
    request.set_id("img-" + std::to_string(i));
    request.set_image(i == kBad ? std::string("not an image") : MakeJpeg(64 + i, 48, 40, i));
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::set<std::string> ids;
  v1::RestoreResponse response;
  int errors = 0;
  while (stream->Read(&response)) {
    ids.insert(response.id());
    if (response.has_error()) {
      ++errors;
      EXPECT_EQ(response.id(), "img-" + std::to_string(kBad));
      EXPECT_EQ(response.error().code(), grpc::StatusCode::INVALID_ARGUMENT);
    } else {
      const int i = std::stoi(response.id().substr(4));
      EXPECT_EQ(response.width(), 64 + i);
      EXPECT_FALSE(response.image().empty());
    }
  }
  const auto status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(ids.size(), static_cast<size_t>(kImages));
  EXPECT_EQ(errors, 1);
}

TEST_F(ServerTest, EstimateQfReportsTheExactHeaderQf) {
  grpc::ClientContext context;
  v1::EstimateQFRequest request;
  request.set_image(MakeJpeg(96, 64, 37));
  v1::EstimateQFResponse response;
  const auto status = stub_->EstimateQF(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.has_header_qf());
  EXPECT_EQ(response.header_qf(), 37);
  EXPECT_TRUE(response.header_qf_exact());
  EXPECT_EQ(response.subsampling(), "4:2:0");
  EXPECT_FALSE(response.progressive());
  EXPECT_GE(response.predicted_qf(), 0);
  EXPECT_LE(response.predicted_qf(), 100);
}

TEST_F(ServerTest, GetModelInfoDescribesTheModel) {
  {
    grpc::ClientContext context;
    v1::GetModelInfoResponse info;
    ASSERT_TRUE(stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
    EXPECT_EQ(info.model().default_mode(), "perceptual");  // a folder that names none
  }
  grpc::ClientContext context;
  v1::GetModelInfoResponse response;
  ASSERT_TRUE(stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &response).ok());
  EXPECT_EQ(response.model().preset(), "tiny");
  EXPECT_GT(response.model().parameters(), 0);
  EXPECT_FALSE(response.model().trained());
  EXPECT_EQ(response.limits().max_message_bytes(), 64 << 20);
  // No max_batch_size in the config and only CPU devices: one tile per call.
  EXPECT_EQ(response.batching().max_batch_size(), 1);
}

// Restores `jpeg` in `mode`; the call must succeed.
v1::RestoreResponse RestoreInMode(v1::Restoration::Stub& stub, const std::string& jpeg,
                                  v1::RestoreMode mode) {
  grpc::ClientContext context;
  v1::RestoreRequest request;
  request.set_image(jpeg);
  request.mutable_options()->set_mode(mode);
  v1::RestoreResponse response;
  const grpc::Status status = stub.Restore(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

// A copy of the tiny test model whose model.yaml gains `yaml_line`.
std::string TinyModelWith(const std::string& tag, const std::string& yaml_line) {
  const std::string dir = MakeTempDir(tag);
  for (const auto& entry : std::filesystem::directory_iterator(TinyModelDir())) {
    std::filesystem::copy_file(entry.path(), dir + "/" + entry.path().filename().string());
  }
  std::ofstream(dir + "/model.yaml", std::ios::app) << yaml_line << "\n";
  return dir;
}

// A model folder may name the mode of requests that name none (the bundled
// model: fidelity, its generator being inert).
TEST(ServerDefaultModeTest, RequestWithoutAModeRunsTheModelsDefault) {
  const std::string dir = TinyModelWith("fidelity-default", "default_mode: fidelity");
  std::string error;
  auto server = ServerProcess::Start(dir, "", &error);
  ASSERT_NE(server, nullptr) << error;
  auto stub = v1::Restoration::NewStub(Connect(server->address()));
  const std::string jpeg = MakeJpeg(96, 64, 20);
  auto restore = [&](v1::RestoreMode mode) { return RestoreInMode(*stub, jpeg, mode).image(); };
  const std::string unspecified = restore(v1::RESTORE_MODE_UNSPECIFIED);
  EXPECT_EQ(unspecified, restore(v1::RESTORE_MODE_FIDELITY));
  EXPECT_NE(unspecified, restore(v1::RESTORE_MODE_PERCEPTUAL));
  grpc::ClientContext context;
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model().default_mode(), "fidelity");
}

// model.yaml `perceptual: inert` (issue 20): a perceptual request (named, or
// by the default mode) runs the fidelity path, returns fidelity's image and
// says so; fidelity requests carry no note; GetModelInfo reports the flag.
TEST(ServerInertPerceptualTest, PerceptualOnAnInertModelRunsFidelityWithANote) {
  const std::string dir = TinyModelWith("inert-perceptual", "perceptual: inert");
  std::string error;
  auto server = ServerProcess::Start(dir, "", &error);
  ASSERT_NE(server, nullptr) << error;
  auto stub = v1::Restoration::NewStub(Connect(server->address()));
  const std::string jpeg = MakeJpeg(96, 64, 20);
  auto restore = [&](v1::RestoreMode mode) { return RestoreInMode(*stub, jpeg, mode); };
  const v1::RestoreResponse fidelity = restore(v1::RESTORE_MODE_FIDELITY);
  const v1::RestoreResponse perceptual = restore(v1::RESTORE_MODE_PERCEPTUAL);
  const v1::RestoreResponse unspecified = restore(v1::RESTORE_MODE_UNSPECIFIED);
  EXPECT_EQ(fidelity.mode_run(), v1::RESTORE_MODE_FIDELITY);
  EXPECT_TRUE(fidelity.mode_note().empty()) << fidelity.mode_note();
  for (const v1::RestoreResponse* r : {&perceptual, &unspecified}) {
    EXPECT_FALSE(r->image().empty());
    EXPECT_EQ(r->image(), fidelity.image());
    EXPECT_EQ(r->mode_run(), v1::RESTORE_MODE_FIDELITY);
    EXPECT_NE(r->mode_note().find("inert"), std::string::npos) << r->mode_note();
  }
  grpc::ClientContext context;
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_TRUE(info.model().perceptual_inert());
  EXPECT_EQ(info.model().default_mode(), "perceptual");
}

// Without the flag perceptual runs the generator: another image, no note.
TEST_F(ServerTest, PerceptualRunsTheGeneratorWhenTheModelIsNotMarkedInert) {
  const std::string jpeg = MakeJpeg(96, 64, 20);
  v1::RestoreResponse responses[2];
  const v1::RestoreMode modes[2] = {v1::RESTORE_MODE_PERCEPTUAL, v1::RESTORE_MODE_FIDELITY};
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    v1::RestoreRequest request;
    request.set_image(jpeg);
    request.mutable_options()->set_mode(modes[i]);
    ASSERT_TRUE(stub_->Restore(&context, request, &responses[i]).ok());
    EXPECT_EQ(responses[i].mode_run(), modes[i]);
    EXPECT_TRUE(responses[i].mode_note().empty());
  }
  EXPECT_NE(responses[0].image(), responses[1].image());
  grpc::ClientContext context;
  v1::GetModelInfoResponse info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_FALSE(info.model().perceptual_inert());
}

TEST_F(ServerTest, OversizedIdIsRefusedAndItsLogLineIsBounded) {
  grpc::ClientContext context;
  v1::RestoreRequest request;
  request.set_image(MakeJpeg(64, 64, 30));
  request.set_id(std::string(1 << 20, 'x'));
  v1::RestoreResponse response;
  const grpc::Status status = stub_->Restore(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("at most 256"), std::string::npos)
      << status.error_message();
  EXPECT_TRUE(response.id().empty());     // not echoed
  request.set_id(std::string(256, 'y'));  // the limit itself is fine
  grpc::ClientContext ok_context;
  ASSERT_TRUE(stub_->Restore(&ok_context, request, &response).ok());
  EXPECT_EQ(response.id(), request.id());
  size_t longest = 0;
  std::istringstream lines(server_->log());
  for (std::string line; std::getline(lines, line);) longest = std::max(longest, line.size());
  EXPECT_LT(longest, 4096u);
}

TEST_F(ServerTest, HealthIsServingAfterWarmUp) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const std::string name : {"", "codiff.v1.Restoration"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << name;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
  }
}

TEST_F(ServerTest, ReflectionListsTheCodiffService) {
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& s : response.list_services_response().service()) names.push_back(s.name());
  EXPECT_NE(std::find(names.begin(), names.end(), "codiff.v1.Restoration"), names.end());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerTest, PythonClientCallsRestoreAndHealth) {
  const std::string dir = MakeTempDir("pyclient");
  const std::string jpeg_path = dir + "/in.jpg";
  std::ofstream(jpeg_path, std::ios::binary) << MakeJpeg(80, 64, 50);
  const std::string command = std::string("/usr/bin/python3 ") + CODIFF_SERVER_TEST_DIR +
                              "/python_client.py --port " + std::to_string(server_->grpc_port()) +
                              " --proto_dir " + CODIFF_PROTO_DIR + " --health_proto_dir " +
                              CODIFF_SERVER_TEST_DIR + "/protos --image " + jpeg_path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  const int rc = pclose(pipe);
  EXPECT_EQ(rc, 0) << output;
  std::printf("%s", output.c_str());
}

TEST_F(ServerTest, BadInputIsRefusedAndTheNextGoodRequestSucceeds) {
  const std::string good = MakeJpeg(64, 64, 50);
  const std::string oversized = MakeJpeg(600, 500, 90);  // 300k pixels > 250k
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"zero bytes", ""},
      {"random bytes",
       [] {
         std::string s(4096, '\0');
         std::mt19937 rng(3);
         for (auto& c : s) c = static_cast<char>(rng());
         return s;
       }()},
      {"truncated JPEG", good.substr(0, good.size() / 2)},
      {"oversized image", oversized},
  };
  for (const auto& [name, bytes] : cases) {
    v1::RestoreResponse response;
    const auto status = Restore(*stub_, bytes, &response);
    EXPECT_TRUE(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED)
        << name << ": " << status.error_code() << " " << status.error_message();
    v1::RestoreResponse next;
    const auto ok = Restore(*stub_, good, &next);
    EXPECT_TRUE(ok.ok()) << "after " << name << ": " << ok.error_message();
  }
}

TEST_F(ServerTest, ExpiredDeadlineIsDroppedBeforeCompute) {
  const std::string image = MakeJpeg(200, 200, 40);
  const double before =
      MetricValue(ScrapeMetrics(server_->metrics_port()), "codiff_tiles_processed_total");
  v1::RestoreResponse response;
  const auto status = Restore(*stub_, image, &response, std::chrono::milliseconds(1));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double after =
      MetricValue(ScrapeMetrics(server_->metrics_port()), "codiff_tiles_processed_total");
  EXPECT_GE(before, 0);
  EXPECT_EQ(after, before);
}

TEST_F(ServerTest, PromtoolFindsNoProblemInTheMetrics) {
  v1::RestoreResponse response;
  ASSERT_TRUE(Restore(*stub_, MakeJpeg(64, 64, 50), &response).ok());
  const std::string text = ScrapeMetrics(server_->metrics_port());
  ASSERT_NE(text.find("codiff_requests_total"), std::string::npos) << text;
  const std::string path = MakeTempDir("metrics") + "/metrics.txt";
  std::ofstream(path) << text;
  ASSERT_EQ(std::system("command -v promtool > /dev/null"), 0)
      << "promtool missing: install Debian's prometheus package (scripts/install-deps.sh)";
  FILE* pipe = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buffer[4096];
  while (fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  EXPECT_EQ(pclose(pipe), 0) << output;
  EXPECT_EQ(output, "") << output;
}

// Batching batches: 8 concurrent clients, max_batch_size 8.
// max_connection_age: the server sends GOAWAY, the client's channel leaves
// READY and reconnects, and no call fails on the way.
TEST(ServerConnectionAgeTest, ClientsReconnectWithoutFailedCalls) {
  auto server =
      StartTinyServer("max_connection_age_seconds: 2\nmax_connection_age_grace_seconds: 5\n");
  ASSERT_NE(server, nullptr);
  auto channel = Connect(server->address());
  auto stub = v1::Restoration::NewStub(channel);
  std::atomic<bool> stop{false};
  std::atomic<int> left_ready{0};
  std::thread watch([&] {
    grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
    while (!stop.load()) {
      if (channel->WaitForStateChange(
              state, std::chrono::system_clock::now() + std::chrono::milliseconds(200))) {
        const grpc_connectivity_state next = channel->GetState(false);
        if (state == GRPC_CHANNEL_READY && next != GRPC_CHANNEL_READY) left_ready.fetch_add(1);
        state = next;
      }
    }
  });
  const std::string jpeg = MakeJpeg(64, 64, 30);
  int calls = 0, failures = 0;
  const auto end = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < end) {
    v1::RestoreResponse response;
    if (!Restore(*stub, jpeg, &response).ok()) ++failures;
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop.store(true);
  watch.join();
  std::printf("[ conn age ] %d calls, %d failed, channel left READY %d times\n", calls, failures,
              left_ready.load());
  EXPECT_EQ(failures, 0);
  EXPECT_GT(calls, 20);
  EXPECT_GE(left_ready.load(), 2);  // GOAWAY about every 2 s over 10 s
}

TEST(ServerBatchingTest, ConcurrentClientsShareBatches) {
  auto server = StartTinyServer(
      "batching:\n  max_batch_size: 8\n  max_queue_delay_ms: 20\n  max_queue_size: 64\n"
      "worker_threads: 2\n");
  ASSERT_NE(server, nullptr);
  auto channel = Connect(server->address());
  const std::string image = MakeJpeg(64, 64, 30);  // one tile each
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      auto stub = v1::Restoration::NewStub(channel);
      for (int i = 0; i < 6; ++i) {
        v1::RestoreResponse response;
        if (!Restore(*stub, image, &response).ok()) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  const std::string text = ScrapeMetrics(server->metrics_port());
  const double sum = MetricValue(text, "codiff_batch_size_tiles_sum");
  const double count = MetricValue(text, "codiff_batch_size_tiles_count");
  ASSERT_GT(count, 0) << text;
  // The warm-up runs on the replica directly, not through the batcher.
  const double mean = sum / count;
  std::printf("[ batching ] %0.f tiles in %0.f batches, mean batch %.2f\n", sum, count, mean);
  EXPECT_GT(mean, 2.0);
}

// A queue of 2 and a burst of 20: the excess is refused at once.
TEST(ServerOverloadTest, BurstBeyondTheQueueGetsResourceExhaustedAtOnce) {
  auto server = StartTinyServer(
      "batching:\n  max_batch_size: 1\n  max_queue_delay_ms: 0\n  max_queue_size: 2\n"
      "worker_threads: 1\n");
  ASSERT_NE(server, nullptr);
  auto channel = Connect(server->address());
  const std::string image = MakeJpeg(160, 160, 30);  // several tiles: slow enough
  struct Outcome {
    grpc::StatusCode code;
    double seconds;
  };
  std::vector<std::future<Outcome>> burst;
  for (int i = 0; i < 20; ++i) {
    burst.push_back(std::async(std::launch::async, [&] {
      auto stub = v1::Restoration::NewStub(channel);
      const auto t0 = Clock::now();
      v1::RestoreResponse response;
      const auto status = Restore(*stub, image, &response);
      return Outcome{status.error_code(), std::chrono::duration<double>(Clock::now() - t0).count()};
    }));
  }
  int ok = 0, exhausted = 0;
  double slowest_refusal = 0, fastest_success = 1e9;
  for (auto& f : burst) {
    const Outcome o = f.get();
    if (o.code == grpc::StatusCode::OK) {
      ++ok;
      fastest_success = std::min(fastest_success, o.seconds);
    } else {
      EXPECT_EQ(o.code, grpc::StatusCode::RESOURCE_EXHAUSTED);
      ++exhausted;
      slowest_refusal = std::max(slowest_refusal, o.seconds);
    }
  }
  std::printf(
      "[ overload ] %d ok, %d RESOURCE_EXHAUSTED; slowest refusal %.3f s, fastest "
      "success %.3f s\n",
      ok, exhausted, slowest_refusal, fastest_success);
  EXPECT_GE(ok, 2);
  EXPECT_GE(exhausted, 12);
  EXPECT_LT(slowest_refusal, 0.5);
}

// SIGTERM under load: every request completes or is refused UNAVAILABLE.
TEST(ServerShutdownTest, SigtermDrainsUnderLoadAndExitsZero) {
  auto server = StartTinyServer("shutdown_grace_seconds: 20\nbatching:\n  max_queue_size: 64\n");
  ASSERT_NE(server, nullptr);
  auto channel = Connect(server->address());
  const std::string image = MakeJpeg(96, 96, 30);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0}, cancelled_after_sigterm{0};
  // Calls that start after SIGTERM were never admitted; when one races with
  // gRPC's own shutdown it can come back CANCELLED instead of UNAVAILABLE.
  // That is still a refusal, so it is counted apart; anything started before
  // SIGTERM must complete or be refused UNAVAILABLE.
  std::atomic<int64_t> sigterm_at{INT64_MAX};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&] {
      auto stub = v1::Restoration::NewStub(channel);
      while (!stop.load()) {
        v1::RestoreResponse response;
        const int64_t started = Clock::now().time_since_epoch().count();
        const auto status = Restore(*stub, image, &response, std::chrono::seconds(30));
        if (status.ok() && !response.image().empty()) {
          ok.fetch_add(1);
        } else if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
          unavailable.fetch_add(1);
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else if (status.error_code() == grpc::StatusCode::CANCELLED &&
                   started >= sigterm_at.load()) {
          cancelled_after_sigterm.fetch_add(1);
        } else {
          other.fetch_add(1);
          std::printf("unexpected: %d %s\n", status.error_code(), status.error_message().c_str());
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const int before = ok.load();
  const auto t0 = Clock::now();
  sigterm_at.store(t0.time_since_epoch().count());
  const int exit_code = server->StopWith(SIGTERM, std::chrono::seconds(25));
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  stop.store(true);
  for (auto& t : clients) t.join();
  std::printf(
      "[ shutdown ] ok %d (before SIGTERM %d), unavailable %d, cancelled after SIGTERM %d, "
      "other %d, exit %d in %.2f s\n",
      ok.load(), before, unavailable.load(), cancelled_after_sigterm.load(), other.load(),
      exit_code, took);
  EXPECT_GT(before, 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(exit_code, 0) << server->log();
  EXPECT_LT(took, 20.0);
}

// Peak VmRSS of `pid` sampled every 20 ms until `stop`.
int64_t PeakRss(pid_t pid, const std::atomic<bool>& stop) {
  int64_t peak = 0;
  while (!stop.load()) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0)
        peak = std::max<int64_t>(peak, std::stoll(line.substr(6)) * 1024);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return peak;
}

// The number after "key": in the server's log, -1 when absent.
int64_t LoggedNumber(const std::string& log, const std::string& key) {
  const size_t at = log.find("\"" + key + "\":");
  return at == std::string::npos ? -1 : std::stoll(log.substr(at + key.size() + 3));
}

// Concurrent large images against a memory budget that holds about two of
// them: the rest are refused at once, every admitted one completes, and the
// process stays under max_memory_bytes.
TEST(ServerAdmissionTest, MemoryBudgetAdmitsWhatFitsAndRefusesTheRestAtOnce) {
  const std::string image = MakeJpeg(1024, 1024, 30);
  // What the tiny model holds after warm-up decides the budget; learn it
  // from a first server, then give the second room for ~2.5 such images.
  int64_t resident = 0;
  {
    auto probe = StartTinyServer("");
    ASSERT_NE(probe, nullptr);
    resident = LoggedNumber(probe->log(), "resident_after_warmup");
  }
  ASSERT_GT(resident, 0);
  // 1024x1024 on 64 px tiles (stride 48): 441 tiles of 4096 px, 96 B each.
  const int64_t per_image = 441ll * 4096 * 96 + static_cast<int64_t>(image.size());
  // + 96 MB: the replica's compute reserve (tiny: ~30 MB) and slack.
  const int64_t max_memory = resident + per_image * 5 / 2 + (96ll << 20);
  auto server = StartTinyServer("limits:\n  max_memory_bytes: " + std::to_string(max_memory) +
                                "\n  max_pixels: 2000000\nbatching:\n  max_batch_size: 8\n");
  ASSERT_NE(server, nullptr);
  std::atomic<bool> stop{false};
  auto peak = std::async(std::launch::async, PeakRss, server->pid(), std::cref(stop));
  auto channel = Connect(server->address());
  struct Outcome {
    grpc::StatusCode code;
    double seconds;
    std::string message;
  };
  std::vector<std::future<Outcome>> calls;
  for (int i = 0; i < 8; ++i) {
    calls.push_back(std::async(std::launch::async, [&] {
      auto stub = v1::Restoration::NewStub(channel);
      const auto t0 = Clock::now();
      v1::RestoreResponse response;
      const auto status = Restore(*stub, image, &response, std::chrono::seconds(300));
      return Outcome{status.error_code(), std::chrono::duration<double>(Clock::now() - t0).count(),
                     status.error_message()};
    }));
  }
  int ok = 0, refused = 0;
  double slowest_refusal = 0;
  for (auto& call : calls) {
    const Outcome o = call.get();
    if (o.code == grpc::StatusCode::OK) {
      ++ok;
    } else {
      EXPECT_EQ(o.code, grpc::StatusCode::RESOURCE_EXHAUSTED) << o.message;
      EXPECT_NE(o.message.find("memory budget"), std::string::npos) << o.message;
      ++refused;
      slowest_refusal = std::max(slowest_refusal, o.seconds);
    }
  }
  stop.store(true);
  const int64_t peak_rss = peak.get();
  std::printf(
      "[ admission] budget %.0f MB (model %.0f MB): %d ok, %d refused (slowest %.3f s); "
      "peak RSS %.0f MB\n",
      max_memory / 1e6, resident / 1e6, ok, refused, slowest_refusal, peak_rss / 1e6);
  EXPECT_GE(ok, 2);
  EXPECT_GE(refused, 4);
  EXPECT_LT(slowest_refusal, 0.5);
  EXPECT_LT(peak_rss, max_memory);
}

TEST_F(ServerTest, ThinImageIsRefusedAtOnce) {
  const std::string thin = MakeJpeg(16384, 1, 50);
  const auto t0 = Clock::now();
  v1::RestoreResponse response;
  const auto status = Restore(*stub_, thin, &response);
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("too thin"), std::string::npos) << status.error_message();
  EXPECT_LT(took, 0.5);
}

TEST_F(ServerTest, TileSizeAboveTheServersLimitIsRefused) {
  grpc::ClientContext context;
  v1::RestoreRequest request;
  request.set_image(MakeJpeg(200, 200, 40));
  request.mutable_options()->set_tile_size(2048);
  v1::RestoreResponse response;
  const auto status = stub_->Restore(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("max_tile_size"), std::string::npos);
}

// A restored image whose PNG is over limits.max_message_bytes is refused
// with FAILED_PRECONDITION naming the fix (not gRPC's bare "message larger
// than max", and not a code clients retry); the same image as JPEG fits.
TEST(ServerMessageLimitTest, OutputTooLargeForOneMessageNamesTheFix) {
  auto server = StartTinyServer("limits:\n  max_message_bytes: 65536\n");
  ASSERT_NE(server, nullptr);
  auto stub = v1::Restoration::NewStub(Connect(server->address()));
  v1::RestoreRequest request;
  request.set_image(MakeJpeg(256, 256, 40));  // about 30 kB; its noisy PNG is far larger
  ASSERT_LT(request.image().size(), 60000u);
  request.mutable_options()->set_mode(v1::RESTORE_MODE_FIDELITY);
  {
    grpc::ClientContext context;
    v1::RestoreResponse response;
    const auto status = stub->Restore(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
    EXPECT_NE(status.error_message().find("max_message_bytes"), std::string::npos)
        << status.error_message();
    EXPECT_NE(status.error_message().find("jpeg"), std::string::npos) << status.error_message();
  }
  request.mutable_options()->set_output_format(v1::IMAGE_FORMAT_JPEG);
  request.mutable_options()->set_output_quality(80);
  grpc::ClientContext context;
  v1::RestoreResponse response;
  const auto status = stub->Restore(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// A 4-tile request whose deadline passes during its first tile: the server
// computes at most 2 of its tiles, and counts it as reason="deadline".
TEST(ServerDeadlineTest, DeadlinePassingMidRequestStopsItsCompute) {
  auto server = StartTinyServer(
      "limits:\n  max_tile_size: 256\nbatching:\n  max_batch_size: 1\n  max_queue_delay_ms: 0\n");
  ASSERT_NE(server, nullptr);
  auto stub = v1::Restoration::NewStub(Connect(server->address()));
  v1::RestoreRequest request;
  request.set_image(MakeJpeg(400, 400, 30));
  request.mutable_options()->set_tile_size(256);  // 2 x 2 tiles of 256
  double per_tile = 0;
  for (int i = 0; i < 2; ++i) {  // the second is warm
    grpc::ClientContext context;
    v1::RestoreResponse response;
    ASSERT_TRUE(stub->Restore(&context, request, &response).ok());
    ASSERT_EQ(response.tile_count(), 4);
    per_tile = response.timings().compute_seconds() / 4;
  }
  const std::string before = ScrapeMetrics(server->metrics_port());
  const double tiles_before = MetricValue(before, "codiff_tiles_processed_total");
  grpc::ClientContext context;
  const auto timeout = std::chrono::microseconds(static_cast<int64_t>(per_tile * 1.3e6));
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::RestoreResponse response;
  const auto status = stub->Restore(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(per_tile * 5e3)));
  const std::string after = ScrapeMetrics(server->metrics_port());
  const double computed = MetricValue(after, "codiff_tiles_processed_total") - tiles_before;
  std::printf("[ deadline ] %.3f s per tile, deadline %.3f s: %.0f of 4 tiles computed\n", per_tile,
              per_tile * 1.3, computed);
  EXPECT_LE(computed, 2);
  EXPECT_EQ(MetricValue(after, "codiff_dropped_requests_total{reason=\"deadline\"}"), 1);
}

}  // namespace
}  // namespace codiff::testing
