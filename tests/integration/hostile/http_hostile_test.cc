// Hostile HTTP traffic (issue 31) against the real codiff-server binary
// (tiny random model, loopback): heads that trickle, absurd and endless
// bodies, 10,000 headers, bad queries, unknown routes and methods, 500 idle
// connections and the connection cap. Each gets its status or is closed in
// bounded time, the process stays inside its memory budget, and gRPC
// requests keep succeeding all the while.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "codiff/v1/codiff.grpc.pb.h"
#include "tests/integration/http/http_test_client.h"
#include "tests/integration/server/server_process.h"
#include "tests/test_support.h"

namespace codiff::testing {
namespace {

namespace v1 = ::codiff::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Peak resident bytes of a process (VmHWM).
int64_t PeakRssBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string key;
  while (status >> key) {
    if (key == "VmHWM:") {
      int64_t kb = 0;
      status >> kb;
      return kb * 1024;
    }
    status.ignore(1 << 20, '\n');
  }
  return -1;
}

bool SendAll(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

constexpr int64_t kMemoryBudget = 3ll << 30;
constexpr double kHeaderTimeout = 2, kBodyTimeout = 3;

class HttpHostileTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = StartTinyServer(
                  "http:\n  header_timeout_seconds: 2\n  body_timeout_seconds: 3\n"
                  "  idle_timeout_seconds: 2\n  max_connections: 600\n"
                  "limits:\n  max_message_bytes: 4194304\n  max_memory_bytes: " +
                  std::to_string(kMemoryBudget) + "\n")
                  .release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->http_port(), 0);
    // gRPC calls all through each test: every one must succeed.
    grpc_thread_ = std::thread([this] {
      auto stub = v1::Restoration::NewStub(
          grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
      v1::EstimateQFRequest request;
      request.set_image(MakeJpeg(64, 64, 35, 9));
      while (!stop_.load()) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + seconds(10));
        v1::EstimateQFResponse response;
        const grpc::Status status = stub->EstimateQF(&context, request, &response);
        (status.ok() ? grpc_ok_ : grpc_failed_).fetch_add(1);
        if (!status.ok()) last_grpc_error_ = status.error_message();
        std::this_thread::sleep_for(milliseconds(100));
      }
    });
  }
  void TearDown() override {
    // A short test still sees at least one gRPC call through.
    const auto give_up = Clock::now() + seconds(10);
    while (grpc_ok_.load() + grpc_failed_.load() == 0 && Clock::now() < give_up) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    stop_.store(true);
    grpc_thread_.join();
    std::printf("[ http     ] gRPC EstimateQF during the test: %d ok, %d failed\n", grpc_ok_.load(),
                grpc_failed_.load());
    EXPECT_GT(grpc_ok_.load(), 0);
    EXPECT_EQ(grpc_failed_.load(), 0) << last_grpc_error_;
    const int64_t peak = PeakRssBytes(server_->pid());
    std::printf("[ http     ] server peak RSS %.0f MB (budget %.0f MB)\n", peak / 1e6,
                kMemoryBudget / 1e6);
    EXPECT_GT(peak, 0);
    EXPECT_LT(peak, kMemoryBudget);
    // And the HTTP API itself still answers.
    EXPECT_EQ(HttpCall(port(), "GET", "/v2/health/ready").status, 200);
  }
  static int port() { return server_->http_port(); }

  static ServerProcess* server_;
  std::thread grpc_thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> grpc_ok_{0}, grpc_failed_{0};
  std::string last_grpc_error_;
};
ServerProcess* HttpHostileTest::server_ = nullptr;

TEST_F(HttpHostileTest, HeadSentAByteASecondIsClosedAtTheHeaderTimeout) {
  const int fd = ConnectLoopback(port());
  ASSERT_GE(fd, 0);
  const std::string head = "POST /v1/restore HTTP/1.1\r\nHost: x\r\n";
  const auto t0 = Clock::now();
  bool closed = false;
  for (size_t i = 0; i < head.size() && !closed; ++i) {
    if (send(fd, &head[i], 1, MSG_NOSIGNAL) != 1) break;
    closed = ServerClosedWithin(fd, milliseconds(1000));
  }
  if (!closed) closed = ServerClosedWithin(fd, milliseconds(3000));
  const double took = SecondsSince(t0);
  close(fd);
  std::printf("[ http     ] byte-a-second head closed after %.1f s (header timeout %.0f s)\n", took,
              kHeaderTimeout);
  EXPECT_TRUE(closed);
  EXPECT_LT(took, kHeaderTimeout + 1.5);
}

TEST_F(HttpHostileTest, AbsurdContentLengthIsRefusedBeforeTheBody) {
  HttpAnswer a = HttpRaw(port(),
                         "POST /v1/restore HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 10000000000\r\n\r\n",
                         seconds(5));
  EXPECT_EQ(a.status, 413) << a.body;
  EXPECT_LT(a.seconds, 1.0);
  EXPECT_NE(a.body.find("10000000000"), std::string::npos) << a.body;
  // With Expect: 100-continue (curl's habit) the refusal comes instead of 100.
  HttpAnswer e = HttpRaw(port(),
                         "POST /v1/restore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                         "Content-Length: 10000000000\r\n\r\n",
                         seconds(5));
  EXPECT_EQ(e.status, 413);
}

TEST_F(HttpHostileTest, ChunkedBodiesThatNeverEndAreCutOff) {
  // Slow: a kilobyte every 200 ms, forever: closed at the body timeout.
  const int fd = ConnectLoopback(port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(
      SendAll(fd, "POST /v1/restore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "400\r\n" + std::string(1024, 'x') + "\r\n";
  const auto t0 = Clock::now();
  bool closed = false;
  while (!closed && SecondsSince(t0) < kBodyTimeout + 3) {
    if (!SendAll(fd, chunk)) {
      closed = true;
      break;
    }
    closed = ServerClosedWithin(fd, milliseconds(200));
  }
  const double took = SecondsSince(t0);
  close(fd);
  std::printf("[ http     ] slow endless chunked body closed after %.1f s (body timeout %.0f s)\n",
              took, kBodyTimeout);
  EXPECT_TRUE(closed);
  EXPECT_LT(took, kBodyTimeout + 1.5);

  // Fast: past the 4 MiB body limit it is 413.
  std::string flood = "POST /v1/restore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string big = "10000\r\n" + std::string(65536, 'y') + "\r\n";
  for (int i = 0; i < 80; ++i) flood += big;  // 5 MiB, no final chunk
  HttpAnswer a = HttpRaw(port(), flood, seconds(10));
  EXPECT_EQ(a.status, 413) << a.body;
}

TEST_F(HttpHostileTest, TenThousandHeadersGet431) {
  std::string head = "GET /v1/model HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 10000; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
  head += "\r\n";
  HttpAnswer a = HttpRaw(port(), head, seconds(5));
  EXPECT_EQ(a.status, 431);
  EXPECT_LT(a.seconds, 2.0);
}

TEST_F(HttpHostileTest, BadRequestsUnknownRoutesAndMethodsGetTheirStatus) {
  const std::string jpeg = MakeJpeg(32, 32, 50, 3);
  EXPECT_EQ(HttpCall(port(), "POST", "/v1/restore?seed=-1", jpeg).status, 400);
  EXPECT_EQ(HttpCall(port(), "POST", "/v1/restore?seed=1&seed=2", jpeg).status, 400);
  EXPECT_EQ(HttpCall(port(), "POST", "/v1/restore?mode=" + std::string(5000, 'a'), jpeg).status,
            400);
  EXPECT_EQ(HttpCall(port(), "POST", "/v1/restore?%", jpeg).status, 400);
  EXPECT_EQ(HttpCall(port(), "GET", "/../../etc/passwd").status, 404);
  EXPECT_EQ(HttpCall(port(), "BREW", "/coffee").status, 404);
  EXPECT_EQ(HttpCall(port(), "PUT", "/v1/restore", jpeg).status, 405);
  EXPECT_EQ(HttpCall(port(), "GET", "/v1/estimate-qf").status, 405);
  EXPECT_EQ(
      HttpRaw(port(), std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 19), seconds(5)).status,
      400);
  EXPECT_EQ(HttpRaw(port(), "GET / HTTP/9.9\r\n\r\n", seconds(5)).status, 400);
}

TEST_F(HttpHostileTest, FiveHundredIdleConnectionsAreClosedAndStarveNoOne) {
  std::vector<int> idle;
  for (int i = 0; i < 500; ++i) {
    const int fd = ConnectLoopback(port());
    ASSERT_GE(fd, 0) << "connection " << i;
    idle.push_back(fd);
  }
  const auto t0 = Clock::now();
  // Meanwhile a real request is answered at once.
  HttpAnswer qf = HttpCall(port(), "POST", "/v1/estimate-qf", MakeJpeg(64, 64, 30, 1));
  EXPECT_EQ(qf.status, 200) << qf.body;
  EXPECT_LT(qf.seconds, 2.0);
  int closed = 0;
  for (int fd : idle) {
    const double left = kHeaderTimeout + 2.0 - SecondsSince(t0);
    if (ServerClosedWithin(fd, milliseconds(static_cast<int64_t>(std::max(left, 0.05) * 1000)))) {
      ++closed;
    }
    close(fd);
  }
  std::printf("[ http     ] 500 idle connections: %d closed by the server within %.1f s\n", closed,
              SecondsSince(t0));
  EXPECT_EQ(closed, 500);
}

TEST(HttpConnectionCapTest, OneConnectionPastTheCapIsAnswered503AtOnce) {
  auto server = StartTinyServer("http:\n  max_connections: 8\n  header_timeout_seconds: 1\n");
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(ConnectLoopback(port));
  std::this_thread::sleep_for(milliseconds(200));
  HttpAnswer refused = HttpCall(port, "GET", "/v2/health/live", "", "", seconds(5));
  EXPECT_EQ(refused.status, 503);
  EXPECT_LT(refused.seconds, 0.5);
  EXPECT_EQ(refused.headers["retry-after"], "1");
  // The silent ones time out, which frees the slots.
  for (int fd : idle) {
    EXPECT_TRUE(ServerClosedWithin(fd, seconds(3)));
    close(fd);
  }
  EXPECT_EQ(HttpCall(port, "GET", "/v2/health/live").status, 200);
}

}  // namespace
}  // namespace codiff::testing
