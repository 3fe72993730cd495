// Hostile traffic against the real codiff-server binary (tiny random model,
// loopback): a metrics port that cannot be stalled, malformed request bytes,
// bearer-token authentication, reflection off by default, and the codiff
// client's --token-file and `load` command.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "codiff/v1/codiff.grpc.pb.h"
#include "core/image/image_encoder.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/integration/client/client_process.h"
#include "tests/integration/http/http_test_client.h"
#include "tests/integration/server/server_process.h"
#include "tests/test_support.h"

namespace codiff::testing {
namespace {

namespace v1 = ::codiff::v1;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string Get(int port, const std::string& path,
                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return HttpRawBytes(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n", timeout);
}

// The attack: one client dripping a byte a second and 200 idle
// connections. A scrape still answers within a second, and SIGTERM ends
// the process within the drain grace while they are all open.
TEST(MetricsEndpointTest, DripperAndIdleConnectionsNeitherDelayScrapesNorShutdown) {
  auto server = StartTinyServer("shutdown_grace_seconds: 5\n");
  ASSERT_NE(server, nullptr);
  const int port = server->metrics_port();
  std::atomic<bool> stop{false};
  std::thread dripper([&] {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    while (!stop.load()) {
      const int fd = ConnectLoopback(port);
      if (fd < 0) return;
      for (size_t i = 0; i < request.size() && !stop.load(); ++i) {
        if (send(fd, &request[i], 1, MSG_NOSIGNAL) != 1) break;
        for (int t = 0; t < 10 && !stop.load(); ++t) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
      close(fd);
    }
  });
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    const int fd = ConnectLoopback(port);
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  double slowest = 0;
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    const std::string response = Get(port, "/metrics");
    const double took = SecondsSince(t0);
    slowest = std::max(slowest, took);
    EXPECT_NE(response.find("HTTP/1.1 200 OK"), std::string::npos) << response.substr(0, 200);
    EXPECT_NE(response.find("codiff_tiles_processed_total"), std::string::npos);
  }
  std::printf("[ metrics  ] 200 idle + 1 dripping connection: slowest of 3 scrapes %.3f s\n",
              slowest);
  EXPECT_LT(slowest, 1.0);

  const auto t0 = Clock::now();
  const int exit_code = server->StopWith(SIGTERM, std::chrono::seconds(10));
  const double took = SecondsSince(t0);
  std::printf("[ metrics  ] SIGTERM with them open: exit %d in %.2f s (grace 5 s)\n", exit_code,
              took);
  EXPECT_EQ(exit_code, 0) << server->log();
  EXPECT_LT(took, 5.0);
  stop.store(true);
  dripper.join();
  for (int fd : idle) close(fd);
}

// Bounds: a connection past the cap is answered 503 and closed at once; a
// silent one is closed when its whole-request time is up; an oversized
// request head gets 431; unknown paths 404.
TEST(MetricsEndpointTest, CapTimeoutAndSizeLimit) {
  auto server = StartTinyServer(
      "metrics_http:\n  max_connections: 4\n  request_timeout_seconds: 1\n"
      "  max_request_bytes: 1024\n");
  ASSERT_NE(server, nullptr);
  const int port = server->metrics_port();
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(ConnectLoopback(port));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = Clock::now();
  const std::string refused = Get(port, "/metrics");
  EXPECT_NE(refused.find("503"), std::string::npos) << refused;
  EXPECT_LT(SecondsSince(t0), 0.5);
  // The silent ones are closed after about a second, which frees the slots.
  t0 = Clock::now();
  for (int fd : idle) {
    EXPECT_TRUE(ServerClosedWithin(fd, std::chrono::milliseconds(3000)));
    close(fd);
  }
  const double closed_after = SecondsSince(t0);
  std::printf("[ metrics  ] idle connections closed after %.2f s (timeout 1 s)\n", closed_after);
  EXPECT_LT(closed_after, 2.5);
  EXPECT_NE(Get(port, "/metrics").find("200 OK"), std::string::npos);
  const std::string big = "GET /metrics HTTP/1.1\r\nX: " + std::string(4000, 'a') + "\r\n\r\n";
  EXPECT_NE(HttpRawBytes(port, big, std::chrono::seconds(3)).find("431"), std::string::npos);
  EXPECT_NE(Get(port, "/other").find("404"), std::string::npos);
}

// Raw bytes through a generic stub, as a hostile client would send them.
grpc::Status RawCall(grpc::GenericStub& stub, const std::string& method, const std::string& bytes,
                     const std::string& token = "") {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  grpc::Slice slice(bytes.data(), bytes.size());
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

TEST(MalformedRequestTest, UnparsableBytesGetInvalidArgumentWithAMessage) {
  auto server = StartTinyServer("");
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  v1::RestoreRequest good;
  good.set_image(MakeJpeg(64, 64, 40));
  good.set_id("ok");
  const std::string bytes = good.SerializeAsString();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"truncated", bytes.substr(0, bytes.size() / 2)},
      // 0xff ... is a field tag whose varint never ends.
      {"trailing junk", bytes + std::string("\xff\xff\xff", 3)},
      // field 3 (id, a proto3 string) holding the bytes ff fe
      {"invalid UTF-8 id", bytes + std::string("\x1a\x02\xff\xfe", 4)},
  };
  for (const auto& [name, payload] : cases) {
    std::vector<std::string> methods = {"/codiff.v1.Restoration/Restore"};
    // EstimateQFRequest has no field 3: there the UTF-8 case is an unknown field.
    if (name != "invalid UTF-8 id") methods.push_back("/codiff.v1.Restoration/EstimateQF");
    for (const std::string& method : methods) {
      const grpc::Status status = RawCall(stub, method, payload);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << name << " " << method << ": " << status.error_code() << " " << status.error_message();
      EXPECT_NE(status.error_message().find("is not a valid codiff.v1."), std::string::npos)
          << status.error_message();
    }
  }
  // The same bytes, whole, are a valid request.
  EXPECT_TRUE(RawCall(stub, "/codiff.v1.Restoration/Restore", bytes).ok());
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("auth"));
    std::ofstream(*dir_ + "/tokens") << "# clients\nright-token-1\n\nsecond-token\n";
    server_ = StartTinyServer("auth:\n  token_file: " + *dir_ +
                              "/tokens\n  exempt_services: [grpc.health.v1.Health]\n")
                  .release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  grpc::Status GetModelInfo(const std::string& authorization) {
    auto stub = v1::Restoration::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    v1::GetModelInfoResponse response;
    return stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &response);
  }

  static ServerProcess* server_;
  static std::string* dir_;
};
ServerProcess* AuthTest::server_ = nullptr;
std::string* AuthTest::dir_ = nullptr;

TEST_F(AuthTest, NoTokenOrAWrongOneIsUnauthenticatedTheRightOneWorks) {
  for (const std::string bad : {"", "Bearer wrong", "Bearer right-token-", "Bearer right-token-12",
                                "Basic right-token-1", "right-token-1"}) {
    const grpc::Status status = GetModelInfo(bad);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << "'" << bad << "'";
    EXPECT_NE(status.error_message().find("bearer token"), std::string::npos);
  }
  EXPECT_TRUE(GetModelInfo("Bearer right-token-1").ok());
  EXPECT_TRUE(GetModelInfo("Bearer second-token").ok());
  const double refused =
      MetricValue(ScrapeMetrics(server_->metrics_port()), "codiff_unauthenticated_requests_total");
  EXPECT_GE(refused, 6);
}

TEST_F(AuthTest, RestoreNeedsTheTokenAndAnUnauthenticatedOneComputesNothing) {
  auto stub = v1::Restoration::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  const double tiles_before =
      MetricValue(ScrapeMetrics(server_->metrics_port()), "codiff_tiles_processed_total");
  v1::RestoreRequest request;
  request.set_image(MakeJpeg(64, 64, 30));
  {
    grpc::ClientContext context;
    v1::RestoreResponse response;
    const grpc::Status status = stub->Restore(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_TRUE(response.image().empty());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(MetricValue(ScrapeMetrics(server_->metrics_port()), "codiff_tiles_processed_total"),
            tiles_before);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer right-token-1");
  v1::RestoreResponse response;
  const grpc::Status status = stub->Restore(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.width(), 64);
}

TEST_F(AuthTest, HealthWorksWithoutAToken) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("codiff.v1.Restoration");
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(AuthTest, ClientSendsTheTokenFromAFileOrTheEnvironment) {
  const std::string right = *dir_ + "/client-right", wrong = *dir_ + "/client-wrong";
  std::ofstream(right) << "right-token-1\n";
  std::ofstream(wrong) << "nope\n";
  const std::string server = "--server=" + server_->address();
  unsetenv("CODIFF_TOKEN");
  ClientResult ok = RunClient({"info", server, "--token-file", right});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  ClientResult refused = RunClient({"info", server, "--token-file", wrong});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("UNAUTHENTICATED"), std::string::npos) << refused.err;
  ClientResult none = RunClient({"info", server});
  EXPECT_NE(none.err.find("UNAUTHENTICATED"), std::string::npos) << none.err;
  setenv("CODIFF_TOKEN", "second-token", 1);
  ClientResult from_env = RunClient({"info", server});
  unsetenv("CODIFF_TOKEN");
  EXPECT_EQ(from_env.exit_code, 0) << from_env.err;
}

TEST(ReflectionTest, OffByDefaultOnWhenEnabledAndExemptFromAuthWhenConfigured) {
  auto list_services = [](const std::string& address, std::vector<std::string>* names) {
    auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    auto stream = reflection->ServerReflectionInfo(&context);
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    request.set_list_services("");
    stream->Write(request);
    stream->WritesDone();
    grpc::reflection::v1alpha::ServerReflectionResponse response;
    while (stream->Read(&response)) {
      for (const auto& s : response.list_services_response().service()) names->push_back(s.name());
    }
    return stream->Finish();
  };
  {
    auto server = StartTinyServer("");
    ASSERT_NE(server, nullptr);
    std::vector<std::string> names;
    EXPECT_EQ(list_services(server->address(), &names).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  const std::string dir = MakeTempDir("reflection");
  std::ofstream(dir + "/tokens") << "t0ken\n";
  auto server = StartTinyServer("reflection: true\nauth:\n  token_file: " + dir +
                                "/tokens\n  exempt_services: [grpc.health.v1.Health, "
                                "grpc.reflection.v1alpha.ServerReflection]\n");
  ASSERT_NE(server, nullptr);
  std::vector<std::string> names;
  const grpc::Status status = list_services(server->address(), &names);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_NE(std::find(names.begin(), names.end(), "codiff.v1.Restoration"), names.end());
}

TEST(LoadCommandTest, ReportsThroughputLatencyStatusesAndServerMemory) {
  auto server = StartTinyServer("");
  ASSERT_NE(server, nullptr);
  const std::string dir = MakeTempDir("load-images");
  for (int i = 0; i < 3; ++i) {
    std::ofstream(dir + "/img" + std::to_string(i) + ".jpg", std::ios::binary)
        << MakeJpeg(64 + 16 * i, 64, 30, i);
  }
  ClientResult result = RunClient({"load", dir, "--server=" + server->address(), "-c", "2", "-d",
                                   "3", "--bad-share", "0.3", "--json", "-q"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto j = nlohmann::json::parse(result.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << result.out;
  std::printf("[ load     ] %s\n", j.dump().c_str());
  EXPECT_EQ(j["callers"], 2);
  EXPECT_GT(j["restored"].get<int>(), 0);
  EXPECT_GT(j["restored_per_s"].get<double>(), 0);
  EXPECT_GE(j["latency_s"]["p99"].get<double>(), j["latency_s"]["p50"].get<double>());
  EXPECT_GT(j["latency_s"]["p50"].get<double>(), 0);
  EXPECT_EQ(j["status_good_inputs"]["OK"], j["restored"]);
  EXPECT_EQ(j["status_good_inputs"].size(), 1u) << j["status_good_inputs"].dump();
  EXPECT_GT(j["status_bad_inputs"]["INVALID_ARGUMENT"].get<int>(), 0);
  // Found through the loopback port.
  EXPECT_EQ(j["server_pid"].get<int>(), static_cast<int>(server->pid()));
  EXPECT_GT(j["server_rss_bytes"]["max_sampled"].get<int64_t>(), 10'000'000);
  ClientResult table = RunClient({"load", dir, "--server=" + server->address(), "-c", "1", "-d",
                                  "1", "--server-pid", std::to_string(server->pid())});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::printf("%s", table.out.c_str());
  EXPECT_NE(table.out.find("latency (ok)    p50"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("server RSS"), std::string::npos);
}

}  // namespace
}  // namespace codiff::testing
