#include "server/http_front_end.h"

#include <array>
#include <atomic>
#include <cstdio>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace codiff::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// Read-ahead room past the head: Beast reads the socket in chunks.
constexpr size_t kReadAheadBytes = 64 * 1024;
constexpr std::chrono::seconds kLingerTime{2};

// A header value may not carry CR or LF (response splitting); messages from
// core are free text.
std::string HeaderSafe(std::string value) {
  for (char& c : value) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return value;
}

}  // namespace

HttpResponse JsonError(int status, std::string_view code, std::string_view message) {
  HttpResponse response;
  response.status = status;
  response.body =
      nlohmann::json{{"code", std::string(code)}, {"message", std::string(message)}}.dump(
          -1, ' ', false, nlohmann::json::error_handler_t::replace);
  return response;
}

std::string_view HttpRequest::Header(std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return {};
}

bool HttpRequest::HasHeader(std::string_view lower_case_name) const {
  for (const auto& header : headers) {
    if (header.first == lower_case_name) return true;
  }
  return false;
}

// Replies from the work pool check it before they touch the event loop, so
// none arrives once the front end is being destroyed.
struct ReplyGate {
  std::mutex mutex;
  bool open = true;
};

class HttpSession;

struct HttpFrontEnd::Impl {
  Impl(HttpRouter r, const HttpFrontEndOptions& o)
      : options(o), router(std::move(r)), io(o.io_threads) {}

  void Accept();
  void Admit(tcp::socket socket);
  void Forget(HttpSession* session) {
    std::lock_guard<std::mutex> lock(mutex);
    sessions.erase(session);
  }

  HttpFrontEndOptions options;
  HttpRouter router;
  net::io_context io;
  tcp::acceptor acceptor{io};
  net::steady_timer accept_backoff{io};
  std::vector<std::thread> threads;
  int port = 0;
  mutable std::mutex mutex;
  std::unordered_map<HttpSession*, std::shared_ptr<HttpSession>> sessions;
  std::shared_ptr<ReplyGate> gate = std::make_shared<ReplyGate>();
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, HttpFrontEnd::Impl* owner)
      : stream_(std::move(socket)),
        owner_(owner),
        buffer_(owner->options.max_header_bytes + kReadAheadBytes) {}

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->ReadHead(self->owner_->options.header_timeout);
    });
  }

  // Only with the event loops stopped (the front end's destructor).
  void CloseSocket() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void ReadHead(std::chrono::milliseconds timeout) {
    parser_.emplace();
    parser_->header_limit(owner_->options.max_header_bytes);
    // Beast checks Content-Length against the body limit while it reads the
    // head (default 1 MB); the route's limit is set once the route is known,
    // so the head must pass whatever it declares.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    stream_.expires_after(timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHead(ec); });
  }

  void OnHead(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& message = parser_->get();
    request_ = HttpRequest{};
    request_.method = std::string(message.method_string());
    const std::string_view target(message.target().data(), message.target().size());
    const size_t question = target.find('?');
    request_.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
      request_.query = std::string(target.substr(question + 1));
    for (const auto& field : message) {
      request_.headers.emplace_back(absl::AsciiStrToLower(std::string(field.name_string().data(),
                                                                      field.name_string().size())),
                                    std::string(field.value()));
    }
    keep_alive_ = message.keep_alive();
    const auto length = parser_->content_length();
    const bool body_follows = parser_->chunked() || (length && *length > 0);
    auto routed = owner_->router(request_);
    if (auto* answer = std::get_if<HttpResponse>(&routed)) {
      // An unread body would be taken for the next request.
      if (body_follows) answer->close = true;
      return Write(std::move(*answer));
    }
    route_ = std::move(std::get<HttpRoute>(routed));
    if (length && *length > route_.max_body_bytes) {
      return Write(TooLarge(absl::StrCat("the body is ", *length, " bytes (Content-Length)")));
    }
    if (!body_follows) return Dispatch();
    parser_->body_limit(route_.max_body_bytes);
    const std::string_view expect = request_.Header("expect");
    if (absl::EqualsIgnoreCase(absl::string_view(expect.data(), expect.size()), "100-continue")) {
      // curl asks first for bodies over 1 MB and waits a second otherwise.
      continue_.emplace(http::status::continue_, 11);
      stream_.expires_after(owner_->options.body_timeout);
      return http::async_write(stream_, *continue_,
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->Close();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(owner_->options.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->request_.body = std::move(self->parser_->get().body());
                       self->Dispatch();
                     });
  }

  HttpResponse TooLarge(const std::string& what) const {
    HttpResponse r =
        JsonError(413, "RESOURCE_EXHAUSTED",
                  absl::StrCat(what, "; this route takes at most ", route_.max_body_bytes,
                               " bytes (limits.max_message_bytes)"));
    r.close = true;
    return r;
  }

  void OnReadError(beast::error_code ec) {
    if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted ||
        ec == http::error::partial_message) {
      return Close();
    }
    HttpResponse answer;
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      answer = JsonError(
          431, "INVALID_ARGUMENT",
          absl::StrCat("the request head is over ", owner_->options.max_header_bytes, " bytes"));
    } else if (ec == http::error::body_limit) {
      answer = TooLarge("the body is larger");
    } else {
      answer = JsonError(400, "INVALID_ARGUMENT", absl::StrCat("bad HTTP request: ", ec.message()));
    }
    answer.close = true;
    Write(std::move(answer));
  }

  void Dispatch() {
    stream_.expires_never();
    std::weak_ptr<HttpSession> weak = shared_from_this();
    HttpReply reply = [weak, gate = owner_->gate](HttpResponse response) {
      std::lock_guard<std::mutex> lock(gate->mutex);
      if (!gate->open) return;
      if (auto self = weak.lock()) {
        auto executor = self->stream_.get_executor();
        net::post(executor, [self = std::move(self), response = std::move(response)]() mutable {
          self->Write(std::move(response));
        });
      }
    };
    auto handle = std::move(route_.handle);
    route_ = HttpRoute{};
    handle(std::move(request_), std::move(reply));
  }

  void Write(HttpResponse answer) {
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(answer.status), 11);
    response->set(http::field::server, "codiff");
    response->set(http::field::content_type, HeaderSafe(std::move(answer.content_type)));
    for (auto& [name, value] : answer.headers) response->insert(name, HeaderSafe(std::move(value)));
    response->body() = std::move(answer.body);
    response->keep_alive(keep_alive_ && !answer.close);
    response->prepare_payload();
    response_ = response;
    stream_.expires_after(owner_->options.body_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!self->response_->keep_alive()) return self->Linger();
                        self->response_.reset();
                        self->ReadHead(self->owner_->options.idle_timeout);
                      });
  }

  // Closing with unread request bytes in the socket makes the kernel send a
  // reset, which can destroy the answer before the client reads it (a 413
  // to a client still sending its body). So: stop sending, read and drop
  // what still comes for up to kLingerTime, then close.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return Close();
    stream_.expires_after(kLingerTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    CloseSocket();
    owner_->Forget(this);
  }

  beast::tcp_stream stream_;
  HttpFrontEnd::Impl* owner_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::shared_ptr<http::response<http::string_body>> response_;
  std::array<char, 4096> scratch_{};
  HttpRequest request_;
  HttpRoute route_;
  bool keep_alive_ = false;
};

void HttpFrontEnd::Impl::Accept() {
  acceptor.async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // Out of file descriptors, most likely: try again shortly instead of
      // spinning on the error.
      accept_backoff.expires_after(std::chrono::milliseconds(50));
      accept_backoff.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) Accept();
      });
      return;
    }
    Admit(std::move(socket));
    Accept();
  });
}

void HttpFrontEnd::Impl::Admit(tcp::socket socket) {
  std::shared_ptr<HttpSession> session;
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (static_cast<int>(sessions.size()) < options.max_connections) {
      session = std::make_shared<HttpSession>(std::move(socket), this);
      sessions.emplace(session.get(), session);
    }
  }
  if (session) return session->Start();
  // Best effort and never waiting: a client that does not read misses it.
  static const std::string kBusy = [] {
    const std::string body =
        R"({"code":"RESOURCE_EXHAUSTED","message":"too many open HTTP connections; retry"})";
    return absl::StrCat(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: "
        "1\r\nConnection: close\r\nContent-Length: ",
        body.size(), "\r\n\r\n", body);
  }();
  beast::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(net::buffer(kBusy), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

HttpFrontEnd::HttpFrontEnd(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpFrontEnd>> HttpFrontEnd::Start(
    const std::string& listen, HttpRouter router, const HttpFrontEndOptions& options) {
  if (options.max_connections < 1 || options.io_threads < 1 || options.max_header_bytes < 64 ||
      options.header_timeout.count() < 1 || options.body_timeout.count() < 1 ||
      options.idle_timeout.count() < 1) {
    return absl::InvalidArgumentError(
        "HTTP: max_connections and io_threads >= 1, max_header_bytes >= 64 and positive "
        "timeouts are required");
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address '", listen, "' must be HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto impl = std::make_shared<Impl>(std::move(router), options);
  beast::error_code ec;
  tcp::resolver resolver(impl->io);
  const auto endpoints =
      resolver.resolve(host.empty() ? "0.0.0.0" : host, port_text,
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address '", listen, "': ", ec ? ec.message() : "no address"));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("HTTP: cannot listen on ", listen, ": ", ec.message()));
  }
  impl->port = impl->acceptor.local_endpoint(ec).port();
  impl->Accept();
  for (int i = 0; i < options.io_threads; ++i) {
    impl->threads.emplace_back([raw = impl.get()] {
      for (;;) {
        try {
          raw->io.run();
          return;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "{\"event\":\"http_error\",\"what\":\"%s\"}\n", e.what());
        }
      }
    });
  }
  return std::unique_ptr<HttpFrontEnd>(new HttpFrontEnd(std::move(impl)));
}

HttpFrontEnd::~HttpFrontEnd() {
  {
    std::lock_guard<std::mutex> lock(impl_->gate->mutex);
    impl_->gate->open = false;
  }
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  beast::error_code ec;
  impl_->acceptor.close(ec);
  std::unordered_map<HttpSession*, std::shared_ptr<HttpSession>> sessions;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    sessions.swap(impl_->sessions);
  }
  for (auto& entry : sessions) entry.second->CloseSocket();
  sessions.clear();
  // The io_context goes last: its destructor frees the handlers that still
  // hold sessions.
}

int HttpFrontEnd::port() const { return impl_->port; }

}  // namespace codiff::server
