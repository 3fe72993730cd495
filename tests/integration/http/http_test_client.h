// Raw-socket HTTP/1.1 for the integration tests: exact bytes out (hostile
// requests included), the server's answer in, split into status, headers
// and body. Every request asks the server to close the connection.
#pragma once

#include <chrono>
#include <map>
#include <string>

namespace codiff::testing {

struct HttpAnswer {
  int status = 0;                              // 0: no answer (closed, timed out or unparsable)
  std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined by "\n"
  std::string body;
  double seconds = 0;  // from the first byte sent to the connection's end
};

// A TCP connection to 127.0.0.1:port; -1 on failure.
int ConnectLoopback(int port);

// Sends `raw` and returns what the server sent until it closed or `timeout`
// passed ("" when the connection failed).
std::string HttpRawBytes(int port, const std::string& raw, std::chrono::milliseconds timeout);

// The same, parsed.
HttpAnswer HttpRaw(int port, const std::string& raw,
                   std::chrono::milliseconds timeout = std::chrono::seconds(60));

// METHOD target with `body` (Content-Length), `extra_headers` as "Name: v\r\n"
// lines, and Connection: close.
HttpAnswer HttpCall(int port, const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& extra_headers = "",
                    std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Parses what a server sent (status line, headers, Content-Length body).
HttpAnswer ParseHttpAnswer(const std::string& bytes);

// True when the server closed `fd` within `timeout` (EOF or reset).
bool ServerClosedWithin(int fd, std::chrono::milliseconds timeout);

}  // namespace codiff::testing
