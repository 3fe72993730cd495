#include "tests/integration/http/http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace codiff::testing {

using Clock = std::chrono::steady_clock;

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

HttpAnswer ParseHttpAnswer(const std::string& bytes) {
  HttpAnswer answer;
  const size_t end = bytes.find("\r\n\r\n");
  if (end == std::string::npos || bytes.compare(0, 9, "HTTP/1.1 ") != 0) return answer;
  answer.status = std::atoi(bytes.c_str() + 9);
  size_t line_start = bytes.find("\r\n") + 2;
  while (line_start < end) {
    const size_t line_end = bytes.find("\r\n", line_start);
    const std::string line = bytes.substr(line_start, line_end - line_start);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      auto& slot = answer.headers[name];
      slot = slot.empty() ? value : slot + "\n" + value;
    }
    line_start = line_end + 2;
  }
  answer.body = bytes.substr(end + 4);
  if (answer.headers.count("content-length")) {
    const size_t length = std::strtoull(answer.headers["content-length"].c_str(), nullptr, 10);
    if (answer.body.size() > length) answer.body.resize(length);
  }
  return answer;
}

std::string HttpRawBytes(int port, const std::string& raw, std::chrono::milliseconds timeout) {
  const auto give_up = Clock::now() + timeout;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  size_t sent = 0;
  while (sent < raw.size()) {
    const ssize_t n = send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer and close before reading it all
    sent += static_cast<size_t>(n);
  }
  std::string bytes;
  char buffer[65536];
  while (Clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(give_up - Clock::now()).count();
    if (poll(&p, 1, static_cast<int>(std::max<int64_t>(left, 1))) <= 0) break;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return bytes;
}

HttpAnswer HttpRaw(int port, const std::string& raw, std::chrono::milliseconds timeout) {
  const auto t0 = Clock::now();
  HttpAnswer answer = ParseHttpAnswer(HttpRawBytes(port, raw, timeout));
  answer.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return answer;
}

HttpAnswer HttpCall(int port, const std::string& method, const std::string& target,
                    const std::string& body, const std::string& extra_headers,
                    std::chrono::milliseconds timeout) {
  std::string raw = method + " " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers;
  if (method == "POST" || !body.empty()) {
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  raw += "\r\n" + body;
  return HttpRaw(port, raw, timeout);
}

bool ServerClosedWithin(int fd, std::chrono::milliseconds timeout) {
  const auto give_up = Clock::now() + timeout;
  char buffer[4096];
  while (Clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n <= 0) return true;
  }
  return false;
}

}  // namespace codiff::testing
