#include "tests/integration/server/server_process.h"

#include <gtest/gtest.h>

#include "core/image/image_encoder.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/test_support.h"

extern char** environ;

namespace codiff::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::unique_ptr<ServerProcess> ServerProcess::Start(const std::string& model_dir,
                                                    const std::string& extra_yaml,
                                                    std::string* error) {
  auto p = std::unique_ptr<ServerProcess>(new ServerProcess());
  p->dir_ = MakeTempDir("server");
  p->log_path_ = p->dir_ + "/server.log";
  const std::string config_path = p->dir_ + "/config.yaml";
  {
    std::ofstream config(config_path);
    config << "listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\nmodel_dir: " << model_dir
           << "\ntorch_threads: 1\n";
    if (extra_yaml.find("http_listen") == std::string::npos) {
      config << "http_listen: 127.0.0.1:0\n";
    }
    config << extra_yaml << "\n";
  }
  const std::string binary = CODIFF_SERVER_BIN;
  std::vector<std::string> args = {binary, "--config", config_path};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, p->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = posix_spawn(&p->pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = "posix_spawn failed";
    p->pid_ = -1;
    return nullptr;
  }
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < give_up) {
    std::istringstream lines(p->log());
    std::string line;
    bool serving = false;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] != '{') continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("event")) continue;
      if (j["event"] == "listening") {
        p->grpc_port_ = j["grpc_port"].get<int>();
        p->metrics_port_ = j["metrics_port"].get<int>();
        p->http_port_ = j.value("http_port", 0);
      }
      if (j["event"] == "serving") serving = true;
    }
    if (serving) return p;
    int status = 0;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      *error = "server exited during start-up:\n" + p->log();
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *error = "server not serving after 60 s:\n" + p->log();
  return nullptr;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string ServerProcess::log() const { return ReadAll(log_path_); }

int ServerProcess::StopWith(int signal, std::chrono::seconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::string ScrapeMetrics(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return "";
  }
  std::string response;
  char buffer[65536];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  const auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

double MetricValue(const std::string& text, const std::string& name_with_labels) {
  std::istringstream lines(text);
  std::string line;
  const std::string prefix = name_with_labels + " ";
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(prefix.size()));
  }
  return -1;
}

const std::string& TinyModelDir() {
  static const std::string dir = [] {
    const std::string out = MakeTempDir("tiny_model") + "/model";
    const std::string command = std::string(CODIFF_MODEL_BIN) +
                                " init --preset tiny --seed 7 --out " + out + " > /dev/null";
    if (std::system(command.c_str()) != 0) return std::string();
    return out;
  }();
  return dir;
}

std::string MakeJpeg(int width, int height, int quality, int seed) {
  image::Image img(width, height, 3);
  std::mt19937 rng(seed);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) {
        img.at(x, y, c) = static_cast<uint8_t>((x * 3 + y * 2 + c * 60 + rng() % 24) & 0xff);
      }
    }
  }
  auto bytes = image::EncodeImage(img, {image::ImageFormat::kJpeg, quality});
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::unique_ptr<ServerProcess> StartTinyServer(const std::string& extra_yaml) {
  std::string error;
  EXPECT_FALSE(TinyModelDir().empty()) << "codiff-model init failed";
  auto server = ServerProcess::Start(TinyModelDir(), extra_yaml, &error);
  EXPECT_NE(server, nullptr) << error;
  return server;
}

}  // namespace codiff::testing
