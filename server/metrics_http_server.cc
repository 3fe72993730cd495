#include "server/metrics_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"

namespace codiff::server {
namespace {

using Clock = std::chrono::steady_clock;

std::string Response(const std::string& status, const std::string& content_type,
                     const std::string& body, bool head_only = false) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", content_type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n",
                      head_only ? "" : body);
}

void CloseQuietly(int fd) {
  if (fd >= 0) ::close(fd);
}

}  // namespace

struct MetricsHttpServer::Connection {
  int fd = -1;
  Clock::time_point deadline;
  std::string request;
  std::string answer;  // non-empty once the request is read
  size_t sent = 0;
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen, std::shared_ptr<prometheus::Registry> registry,
    const MetricsHttpOptions& options) {
  if (options.max_connections < 1 || options.max_request_bytes < 64 ||
      options.request_timeout.count() < 1) {
    return absl::InvalidArgumentError(
        "metrics endpoint: max_connections >= 1, max_request_bytes >= 64 and a positive "
        "request timeout are required");
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address '", listen, "' must be HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int rc =
      ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics listen address '", listen, "': ", gai_strerror(rc)));
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen, ": ", last_error));
  }
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("metrics endpoint: eventfd: ", std::strerror(errno)));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int port = bound.ss_family == AF_INET6
                       ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                       : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(fd, wake_fd, port, std::move(registry), options));
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int wake_fd, int port,
                                     std::shared_ptr<prometheus::Registry> registry,
                                     MetricsHttpOptions options)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      registry_(std::move(registry)),
      options_(options) {
  thread_ = std::thread([this] { Serve(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  const uint64_t one = 1;
  // The loop wakes at once and closes every connection; nothing here waits
  // on a client.
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void MetricsHttpServer::Serve() {
  std::vector<Connection> connections;
  std::vector<pollfd> fds;
  for (;;) {
    // Close the connections whose time is up; the next deadline bounds the wait.
    const auto now = Clock::now();
    auto next_deadline = now + std::chrono::seconds(10);
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->deadline <= now) {
        timed_out_.fetch_add(1);
        ::close(it->fd);
        it = connections.erase(it);
      } else {
        next_deadline = std::min(next_deadline, it->deadline);
        ++it;
      }
    }
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Connection& c : connections) {
      fds.push_back({c.fd, static_cast<short>(c.answer.empty() ? POLLIN : POLLOUT), 0});
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now);
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()) + 1);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    if (fds[0].revents != 0) break;  // stopping

    // Existing connections first (their indices match fds[2...]).
    std::vector<bool> keep(connections.size(), true);
    for (size_t i = 0; i < connections.size(); ++i) {
      const short events = fds[i + 2].revents;
      if (events == 0) continue;
      Connection& c = connections[i];
      if (c.answer.empty()) {
        keep[i] = (events & (POLLIN | POLLHUP | POLLERR)) ? OnReadable(c) : true;
      }
      if (keep[i] && !c.answer.empty() && (events & (POLLOUT | POLLIN))) keep[i] = OnWritable(c);
      if (events & (POLLERR | POLLNVAL)) keep[i] = false;
    }
    std::vector<Connection> still_open;
    still_open.reserve(connections.size());
    for (size_t i = 0; i < connections.size(); ++i) {
      if (keep[i]) {
        still_open.push_back(std::move(connections[i]));
      } else {
        ::close(connections[i].fd);
      }
    }
    connections.swap(still_open);

    if (fds[1].revents & POLLIN) {
      for (;;) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) break;  // EAGAIN: accepted everything waiting
        if (static_cast<int>(connections.size()) >= options_.max_connections) {
          refused_.fetch_add(1);
          const std::string busy = Response("503 Service Unavailable", "text/plain",
                                            "too many connections to the metrics endpoint\n");
          [[maybe_unused]] const ssize_t n =
              ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          ::close(fd);
          continue;
        }
        Connection c;
        c.fd = fd;
        c.deadline = Clock::now() + options_.request_timeout;
        connections.push_back(std::move(c));
      }
    }
  }
  for (Connection& c : connections) CloseQuietly(c.fd);
}

bool MetricsHttpServer::OnReadable(Connection& c) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(c.fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0) return false;  // the client went away before finishing its request
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.request.append(buffer, static_cast<size_t>(n));
    const auto head_end = c.request.find("\r\n\r\n");
    if (head_end != std::string::npos &&
        head_end + 4 <= static_cast<size_t>(options_.max_request_bytes)) {
      c.answer = Answer(c.request.substr(0, head_end));
      return true;
    }
    if (c.request.size() > static_cast<size_t>(options_.max_request_bytes)) {
      c.answer = Response(
          "431 Request Header Fields Too Large", "text/plain",
          absl::StrCat("requests are limited to ", options_.max_request_bytes, " bytes\n"));
      return true;
    }
  }
}

bool MetricsHttpServer::OnWritable(Connection& c) {
  while (c.sent < c.answer.size()) {
    const ssize_t n = ::send(c.fd, c.answer.data() + c.sent, c.answer.size() - c.sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.sent += static_cast<size_t>(n);
  }
  ::shutdown(c.fd, SHUT_WR);
  return false;  // answered: close
}

std::string MetricsHttpServer::Answer(const std::string& head) const {
  const std::string line = head.substr(0, head.find("\r\n"));
  const auto first_space = line.find(' ');
  const auto second_space =
      first_space == std::string::npos ? std::string::npos : line.find(' ', first_space + 1);
  if (first_space == std::string::npos || second_space == std::string::npos) {
    return Response("400 Bad Request", "text/plain", "bad request\n");
  }
  const std::string method = line.substr(0, first_space);
  std::string path = line.substr(first_space + 1, second_space - first_space - 1);
  if (const auto query = path.find('?'); query != std::string::npos) path.resize(query);
  if (method != "GET" && method != "HEAD") {
    return Response("405 Method Not Allowed", "text/plain", "GET only\n");
  }
  if (path != "/metrics") {
    return Response("404 Not Found", "text/plain", "metrics are at /metrics\n");
  }
  const std::string body = prometheus::TextSerializer().Serialize(registry_->Collect());
  return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", body, method == "HEAD");
}

}  // namespace codiff::server
