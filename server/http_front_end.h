// An HTTP/1.1 listener built on Boost.Beast (Debian's libboost-dev): Beast
// parses, this file bounds what a client may hold. Plain types in and out,
// so no Beast header reaches the rest of the server.
//
// Bounds, for traffic that means harm:
//  * at most `max_connections` open; one more is answered 503 and closed at
//    once, without waiting on the client;
//  * the request head (line + headers, at most `max_header_bytes`, else 431)
//    must arrive whole within `header_timeout` however slowly it trickles;
//    later requests on a kept-alive connection within `idle_timeout`;
//  * the router sees the head before any body byte is read: it answers at
//    once (401, 404, 405, 413 from Content-Length) or names a body limit;
//    a body, chunked or not, past that limit is 413, and the whole body must
//    arrive within `body_timeout`;
//  * a response the client does not read is dropped after `body_timeout`.
// A timed-out connection is closed. The work itself runs wherever the route
// posts it; the event loop threads only read, route and write.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace codiff::server {

struct HttpFrontEndOptions {
  int max_connections = 512;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{120'000};
  std::chrono::milliseconds idle_timeout{30'000};
  uint32_t max_header_bytes = 16384;
  int io_threads = 2;
};

struct HttpRequest {
  std::string method;                                        // as sent: "GET", "POST", ...
  std::string path;                                          // the target up to '?'
  std::string query;                                         // after '?', still percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  // The first value of header `lower_case_name`; empty when absent.
  std::string_view Header(std::string_view lower_case_name) const;
  bool HasHeader(std::string_view lower_case_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool close = false;  // close the connection after this response
};

using HttpReply = std::function<void(HttpResponse)>;

// A route found for a request head: the body is read (at most
// max_body_bytes) and then `handle` runs on an event-loop thread; it must
// not block, and calls the reply exactly once, from any thread.
struct HttpRoute {
  uint64_t max_body_bytes = 0;
  std::function<void(HttpRequest, HttpReply)> handle;
};

// Sees every request head (body empty): a route, or the answer at once.
using HttpRouter = std::function<std::variant<HttpRoute, HttpResponse>(const HttpRequest& head)>;

class HttpFrontEnd {
 public:
  // Binds HOST:PORT (port 0 picks a free one) and starts the event loops.
  static absl::StatusOr<std::unique_ptr<HttpFrontEnd>> Start(const std::string& listen,
                                                             HttpRouter router,
                                                             const HttpFrontEndOptions& options);
  // Closes the listener and every connection; replies that arrive later are
  // dropped.
  ~HttpFrontEnd();
  HttpFrontEnd(const HttpFrontEnd&) = delete;
  HttpFrontEnd& operator=(const HttpFrontEnd&) = delete;

  int port() const;

  struct Impl;

 private:
  explicit HttpFrontEnd(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// {"code": CODE, "message": MESSAGE}: the error body every route answers,
// with gRPC's code name and the message gRPC would carry.
HttpResponse JsonError(int status, std::string_view code, std::string_view message);

}  // namespace codiff::server
