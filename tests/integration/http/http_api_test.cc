// The HTTP front end (issue 31) against the real codiff-server binary (tiny
// random model, loopback): the same bytes as the gRPC client, the response's
// facts in headers, JSON for EstimateQF and GetModelInfo, health and
// metrics, the error mapping and bearer tokens.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/client/client_process.h"
#include "tests/integration/http/http_test_client.h"
#include "tests/integration/server/server_process.h"
#include "tests/test_support.h"

namespace codiff::testing {
namespace {

namespace fs = std::filesystem;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string WriteTemp(const std::string& bytes, const std::string& name) {
  const std::string path = MakeTempDir("http") + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

class HttpApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = StartTinyServer("").release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->http_port(), 0) << server_->log();
  }
  static int port() { return server_->http_port(); }
  static ServerProcess* server_;
};
ServerProcess* HttpApiTest::server_ = nullptr;

TEST_F(HttpApiTest, RestoreAnswersTheSameBytesAsTheGrpcClient) {
  const std::string jpeg = MakeJpeg(96, 80, 30, 4);
  const std::string path = WriteTemp(jpeg, "in.jpg");
  const ClientResult grpc =
      RunClient({"restore", "-", "-q", "--mode", "fidelity", "--server", server_->address()}, path);
  ASSERT_EQ(grpc.exit_code, 0) << grpc.err;
  ASSERT_FALSE(grpc.out.empty());

  HttpAnswer http =
      HttpCall(port(), "POST", "/v1/restore?mode=fidelity", jpeg, "Content-Type: image/jpeg\r\n");
  ASSERT_EQ(http.status, 200) << http.body;
  EXPECT_EQ(http.body, grpc.out) << "HTTP and gRPC restores of one file differ";
  EXPECT_EQ(http.headers.at("content-type"), "image/png");
  EXPECT_EQ(http.headers.at("x-codiff-mode"), "fidelity");
  EXPECT_EQ(http.headers.at("x-codiff-width"), "96");
  EXPECT_EQ(http.headers.at("x-codiff-height"), "80");
  EXPECT_EQ(http.headers.count("x-codiff-predicted-qf"), 1u);
  EXPECT_EQ(http.headers.count("x-codiff-tiles"), 1u);
  EXPECT_TRUE(Contains(http.headers.at("server-timing"), "queue;dur="))
      << http.headers.at("server-timing");
  EXPECT_TRUE(Contains(http.headers.at("server-timing"), "compute;dur="));

  // Options by their proto names, enum values by short name.
  HttpAnswer jpeg_out =
      HttpCall(port(), "POST", "/v1/restore?mode=FIDELITY&output_format=jpeg&id=abc%20d", jpeg);
  ASSERT_EQ(jpeg_out.status, 200) << jpeg_out.body;
  EXPECT_EQ(jpeg_out.headers.at("content-type"), "image/jpeg");
  EXPECT_EQ(jpeg_out.headers.at("x-codiff-id"), "abc d");
  EXPECT_EQ(jpeg_out.body.substr(0, 2), std::string("\xFF\xD8"));
}

TEST_F(HttpApiTest, EstimateQfAndModelInfoAnswerTheProtoJsonMapping) {
  HttpAnswer qf = HttpCall(port(), "POST", "/v1/estimate-qf", MakeJpeg(64, 64, 42, 2));
  ASSERT_EQ(qf.status, 200) << qf.body;
  const auto j = nlohmann::json::parse(qf.body);
  EXPECT_EQ(j.at("headerQf"), 42);
  EXPECT_EQ(j.at("hasHeaderQf"), true);
  EXPECT_EQ(j.at("format"), "JPEG");
  EXPECT_EQ(j.at("width"), 64);

  HttpAnswer info = HttpCall(port(), "GET", "/v1/model");
  ASSERT_EQ(info.status, 200) << info.body;
  const auto m = nlohmann::json::parse(info.body);
  EXPECT_EQ(m.at("model").at("preset"), "tiny");
  EXPECT_TRUE(m.contains("serverVersion"));
}

TEST_F(HttpApiTest, HealthAndMetricsCountHttpRequestsUnderTheirProtocol) {
  EXPECT_EQ(HttpCall(port(), "GET", "/v2/health/live").status, 200);
  EXPECT_EQ(HttpCall(port(), "GET", "/v2/health/ready").status, 200);
  ASSERT_EQ(HttpCall(port(), "GET", "/v1/model").status, 200);
  HttpAnswer metrics = HttpCall(port(), "GET", "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_GE(MetricValue(metrics.body,
                        "codiff_requests_total{code=\"OK\",method=\"GetModelInfo\",protocol="
                        "\"http\"}"),
            1)
      << metrics.body.substr(0, 2000);
  // The log line names the protocol too.
  EXPECT_TRUE(Contains(server_->log(), "\"protocol\":\"http\"")) << server_->log();
}

TEST_F(HttpApiTest, ErrorsCarryGrpcCodesMessagesAndHttpStatuses) {
  const std::string jpeg = MakeJpeg(32, 32, 50, 3);
  struct Case {
    std::string method, target, body, headers;
    int status;
    std::string code, message_part;
  };
  const Case cases[] = {
      {"POST", "/v1/restore?mode=sharp", jpeg, "", 400, "INVALID_ARGUMENT", "perceptual, fidelity"},
      {"POST", "/v1/restore?mode=fidelity&mode=perceptual", jpeg, "", 400, "INVALID_ARGUMENT",
       "more than once"},
      {"POST", "/v1/restore?tile_size=big", jpeg, "", 400, "INVALID_ARGUMENT", "an integer"},
      {"POST", "/v1/restore?colour=1", jpeg, "", 400, "INVALID_ARGUMENT",
       "unknown query parameter"},
      {"POST", "/v1/restore?id=%zz", jpeg, "", 400, "INVALID_ARGUMENT", "percent-escape"},
      {"POST", "/v1/restore", "not an image", "", 400, "INVALID_ARGUMENT", ""},
      {"POST", "/v1/restore", "", "", 400, "INVALID_ARGUMENT", ""},
      {"POST", "/v1/restore", jpeg, "X-Request-Timeout: soon\r\n", 400, "INVALID_ARGUMENT",
       "X-Request-Timeout"},
      {"POST", "/v1/restore?output_quality=500", jpeg, "", 400, "INVALID_ARGUMENT", ""},
      {"GET", "/v1/restore", "", "", 405, "UNIMPLEMENTED", "POST"},
      {"DELETE", "/v1/model", "", "", 405, "UNIMPLEMENTED", "GET"},
      {"GET", "/v1/nothing", "", "", 404, "NOT_FOUND", "no route"},
      {"POST", "/v1/estimate-qf?x=1", jpeg, "", 400, "INVALID_ARGUMENT", "no query"},
  };
  for (const Case& c : cases) {
    HttpAnswer a = HttpCall(port(), c.method, c.target, c.body, c.headers);
    SCOPED_TRACE(c.method + " " + c.target);
    EXPECT_EQ(a.status, c.status) << a.body;
    ASSERT_EQ(a.headers["content-type"], "application/json") << a.body;
    const auto j = nlohmann::json::parse(a.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << a.body;
    EXPECT_EQ(j.value("code", ""), c.code) << a.body;
    EXPECT_TRUE(Contains(j.value("message", ""), c.message_part)) << a.body;
  }
  // A deadline that passes before the work can run is 504, as gRPC's
  // DEADLINE_EXCEEDED.
  HttpAnswer late = HttpCall(port(), "POST", "/v1/restore?mode=fidelity", MakeJpeg(512, 512, 30, 5),
                             "X-Request-Timeout: 0.000001\r\n");
  EXPECT_EQ(late.status, 504) << late.body;
  EXPECT_TRUE(Contains(late.body, "DEADLINE_EXCEEDED")) << late.body;
}

TEST(HttpAuthTest, BearerTokensGuardTheApiButNotHealth) {
  const std::string tokens = WriteTemp("s3cret-token\n", "tokens.txt");
  auto server = StartTinyServer("auth:\n  token_file: " + tokens + "\n");
  ASSERT_NE(server, nullptr);
  const int port = server->http_port();
  const std::string jpeg = MakeJpeg(32, 32, 40, 6);
  HttpAnswer none = HttpCall(port, "POST", "/v1/estimate-qf", jpeg);
  EXPECT_EQ(none.status, 401) << none.body;
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
  EXPECT_TRUE(Contains(none.body, "UNAUTHENTICATED"));
  EXPECT_EQ(
      HttpCall(port, "POST", "/v1/estimate-qf", jpeg, "Authorization: Bearer wrong\r\n").status,
      401);
  EXPECT_EQ(HttpCall(port, "GET", "/v1/model").status, 401);
  EXPECT_EQ(
      HttpCall(port, "POST", "/v1/estimate-qf", jpeg, "Authorization: Bearer s3cret-token\r\n")
          .status,
      200);
  EXPECT_EQ(HttpCall(port, "GET", "/v2/health/ready").status, 200);
  EXPECT_GE(
      MetricValue(ScrapeMetrics(server->metrics_port()), "codiff_unauthenticated_requests_total"),
      3);
}

TEST(HttpOffTest, EmptyListenTurnsHttpOff) {
  auto server = StartTinyServer("http_listen: \"\"\n");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->http_port(), 0);
}

}  // namespace
}  // namespace codiff::testing
