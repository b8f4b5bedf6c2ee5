// tornado.httpclient: AsyncHTTPClient's queue, the per-request connection (simple_httpclient's
// _HTTPConnection) and the blocking HTTPClient.
module;
#include <sys/socket.h>

#include <boost/url.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <variant>
module tornado.httpclient;

import tornado.util;
import tornado.iostream;
import tornado.http1connection;
import tornado.tcpclient;

namespace tornado::httpclient {

namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

double wall_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The message of an exception, for wrapping it in HTTPStreamClosedError.
std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "unknown error";
  }
}

// (scheme, host, port) of an absolute URL, for telling a cross-origin redirect (RFC 6454).
std::optional<std::tuple<std::string, std::string, std::uint16_t>> origin(std::string_view url) {
  auto r = boost::urls::parse_uri(url);
  if (!r) return std::nullopt;
  std::string scheme(r->scheme());
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string host(r->host_address());
  std::transform(host.begin(), host.end(), host.begin(), [](unsigned char c) { return std::tolower(c); });
  std::uint16_t port = r->has_port() ? r->port_number() : (scheme == "https" ? 443 : 80);
  return std::tuple{scheme, host, port};
}

// The registry of AsyncHTTPClient::instance(): one shared client per loop, held weakly.
std::map<ioloop::IOLoop*, std::weak_ptr<AsyncHTTPClient>>& instances() {
  thread_local std::map<ioloop::IOLoop*, std::weak_ptr<AsyncHTTPClient>> map;
  return map;
}

}  // namespace

// --- errors and responses ---------------------------------------------------------------------

HTTPClientError::HTTPClientError(int code, std::optional<std::string> message,
                                 std::shared_ptr<const HTTPResponse> response)
    : std::runtime_error("HTTP " + std::to_string(code) + ": " +
                         (message ? *message : std::string(httputil::responses(code)))),
      code(code),
      message(message ? *message : std::string(httputil::responses(code))),
      response(std::move(response)) {}

HTTPResponse::HTTPResponse(HTTPRequest request, int code, httputil::HTTPHeaders headers, std::string body,
                           std::string effective_url, std::exception_ptr error, double request_time,
                           std::optional<std::string> reason, double start_time)
    : request(std::move(request)),
      code(code),
      reason(reason ? *reason : std::string(httputil::responses(code))),
      headers(std::move(headers)),
      body(std::move(body)),
      effective_url(effective_url.empty() ? this->request.url : std::move(effective_url)),
      error(std::move(error)),
      request_time(request_time),
      start_time(start_time) {
  if (!this->error && (code < 200 || code >= 300)) {
    error_is_response_code_ = true;
    this->error = std::make_exception_ptr(HTTPClientError(code, this->reason));
  }
}

void HTTPResponse::rethrow() const {
  if (error) std::rethrow_exception(error);
}

// --- one request on one connection ------------------------------------------------------------

struct AsyncHTTPClient::Pending {
  std::shared_ptr<HTTPRequest> request;
  std::shared_ptr<const HTTPRequest> original;
  Callback callback;
  std::optional<ioloop::TimeoutHandle> timeout;
};

// simple_httpclient._HTTPConnection: connects, sends the request, reads the response as the
// HTTP1Connection's message delegate, and either follows a redirect or hands the response to the
// final callback (exactly once, whatever happens: timeout, error, close).
struct AsyncHTTPClient::Connection : httputil::HTTPMessageDelegate, std::enable_shared_from_this<Connection> {
  Connection(std::shared_ptr<AsyncHTTPClient> client, std::shared_ptr<HTTPRequest> request,
             std::shared_ptr<const HTTPRequest> original, Callback final_callback)
      : client(std::move(client)),
        request(std::move(request)),
        original(std::move(original)),
        final_callback(std::move(final_callback)),
        io_loop(this->client->io_loop_),
        start_time(io_loop->time()),
        start_wall_time(wall_time()) {}

  // A connection dropped before it answered (its loop closed under it, or a producer went away)
  // still answers once, and still gives its slot back.
  ~Connection() override {
    if (timeout) io_loop->remove_timeout(*timeout);
    if (final_callback) {
      run_callback(HTTPResponse(original ? *original : *request, 599, {}, {}, request->url,
                                std::make_exception_ptr(HTTPStreamClosedError("Connection closed")),
                                io_loop->time() - start_time, std::nullopt, start_wall_time));
    }
    release();
  }

  std::shared_ptr<AsyncHTTPClient> client;
  std::shared_ptr<HTTPRequest> request;
  std::shared_ptr<const HTTPRequest> original;
  Callback final_callback;
  ioloop::IOLoop* io_loop;
  double start_time;
  double start_wall_time;
  bool released = false;
  std::shared_ptr<iostream::IOStream> stream;
  std::unique_ptr<http1connection::HTTP1Connection> connection;
  std::optional<ioloop::TimeoutHandle> timeout;
  int code = 0;
  std::string reason;
  httputil::HTTPHeaders headers;
  std::string body;

  Future<void> run() {
    auto self = shared_from_this();  // the frame keeps the delegate alive until the end
    try {
      co_await run_inner();
    } catch (...) {
      handle_exception(std::current_exception());
    }
  }

  Future<void> run_inner() {
    auto parsed = boost::urls::parse_uri(request->url);
    if (!parsed) throw std::invalid_argument("Invalid URL: " + request->url);
    std::string scheme(parsed->scheme());
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    if (scheme != "http" && scheme != "https") throw std::invalid_argument("Unsupported url scheme: " + request->url);
    // host_address() is the host without IPv6 brackets, percent-decoded.
    std::string host(parsed->host_address());
    std::uint16_t port = parsed->has_port() ? parsed->port_number() : (scheme == "https" ? 443 : 80);
    std::string netloc(parsed->encoded_host_and_port());
    std::optional<std::pair<std::string, std::string>> userpass;
    if (parsed->has_userinfo()) userpass.emplace(std::string(parsed->user()), std::string(parsed->password()));

    int af = request->allow_ipv6 ? AF_UNSPEC : AF_INET;
    double timeout_s = 0;
    if (request->connect_timeout > 0 && request->request_timeout > 0)
      timeout_s = std::min(request->connect_timeout, request->request_timeout);
    else
      timeout_s = std::max(request->connect_timeout, request->request_timeout);
    std::optional<double> connect_timeout;
    if (timeout_s > 0) connect_timeout = timeout_s;

    std::unique_ptr<iostream::IOStream> s;
    try {
      auto& tcp = *client->tcp_client_;
      std::size_t max_buffer = client->options_.max_buffer_size;
      if (scheme == "https") {
        netutil::SSLOptions opts;
        opts.ca_certs = request->ca_certs;
        if (!request->validate_cert) opts.cert_reqs = netutil::CertReqs::none;
        auto ctx = netutil::ssl_options_to_context(opts, false);
        s = co_await tcp.connect(host, port, ctx, af, max_buffer, {}, 0, connect_timeout);
      } else {
        s = co_await tcp.connect(host, port, af, max_buffer, {}, 0, connect_timeout);
      }
    } catch (const TimeoutError&) {
      throw HTTPTimeoutError("Timeout while connecting");
    }
    stream = std::shared_ptr<iostream::IOStream>(std::move(s));
    if (!final_callback) {
      // The request ended (timed out) while connecting.
      stream->close();
      co_return;
    }
    if (request->request_timeout > 0) {
      timeout = io_loop->add_timeout(start_time + request->request_timeout, [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->on_timeout("during request");
      });
    }

    static constexpr std::string_view kBodyMethods[] = {"POST", "PATCH", "PUT"};
    static constexpr std::string_view kKnownMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    if (!request->allow_nonstandard_methods &&
        std::find(std::begin(kKnownMethods), std::end(kKnownMethods), request->method) == std::end(kKnownMethods))
      throw std::invalid_argument("unknown method " + request->method);

    auto& h = request->headers;
    if (!h.contains("Connection")) h.set("Connection", "close");
    if (!h.contains("Host")) {
      // A userinfo part is never sent in Host (RFC 9110 7.2).
      h.set("Host", netloc);
    }
    std::optional<std::string> username = request->auth_username, password = request->auth_password;
    if (!username && userpass) {
      username = userpass->first;
      password = userpass->second;
    }
    if (username) {
      if (request->auth_mode != "basic") throw std::invalid_argument("unsupported auth_mode " + request->auth_mode);
      h.set("Authorization",
            "Basic " + base64(httputil::encode_username_password(*username, password ? *password : "")));
    }
    if (!request->user_agent.empty())
      h.set("User-Agent", request->user_agent);
    else if (!h.contains("User-Agent"))
      h.set("User-Agent", "Tornado/6.2");
    if (!request->allow_nonstandard_methods) {
      bool body_expected =
          std::find(std::begin(kBodyMethods), std::end(kBodyMethods), request->method) != std::end(kBodyMethods);
      bool body_present = request->body.has_value();
      if (body_expected != body_present)
        throw std::invalid_argument(std::string("Body must ") + (body_expected ? "not " : "") +
                                    "be None for method " + request->method +
                                    " (unless allow_nonstandard_methods is true)");
    }
    if (request->body) h.set("Content-Length", std::to_string(request->body->size()));
    if (request->method == "POST" && !h.contains("Content-Type"))
      h.set("Content-Type", "application/x-www-form-urlencoded");
    if (request->decompress_response) h.set("Accept-Encoding", "gzip");

    std::string req_path(parsed->encoded_path());
    if (req_path.empty()) req_path = "/";
    if (parsed->has_query()) req_path += "?" + std::string(parsed->encoded_query());

    http1connection::HTTP1ConnectionParameters params;
    params.no_keep_alive = true;
    params.max_header_size = request->max_header_size ? request->max_header_size
                             : client->options_.max_header_size ? client->options_.max_header_size
                                                                 : params.max_header_size;
    params.max_body_size = request->max_body_size ? request->max_body_size : client->options_.max_body_size;
    params.decompress = request->decompress_response;
    connection = std::make_unique<http1connection::HTTP1Connection>(stream, true, params);
    co_await connection->write_headers(httputil::RequestStartLine{request->method, req_path, ""}, h);
    if (request->body && !request->body->empty()) co_await connection->write(*request->body);
    connection->finish();
    co_await connection->read_response(*this);
  }

  void remove_timeout() {
    if (timeout) io_loop->remove_timeout(*timeout);
    timeout.reset();
  }

  void release() {
    if (released) return;
    released = true;
    client->release_fetch();
  }

  // Hands `response` to the final callback on a later iteration, once.
  void run_callback(HTTPResponse response) {
    release();
    if (!final_callback) return;
    auto cb = std::move(final_callback);
    final_callback = nullptr;
    io_loop->add_callback([cb = std::move(cb), response = std::move(response)]() mutable { cb(std::move(response)); });
  }

  void on_timeout(const std::string& info) {
    timeout.reset();
    if (final_callback) handle_exception(std::make_exception_ptr(HTTPTimeoutError("Timeout " + info)));
  }

  void handle_exception(std::exception_ptr error) {
    if (final_callback) {
      remove_timeout();
      try {
        std::rethrow_exception(error);
      } catch (const iostream::StreamClosedError& e) {
        error = std::make_exception_ptr(
            HTTPStreamClosedError(e.real_error ? describe(e.real_error) : std::string("Stream closed")));
      } catch (...) {
      }
      run_callback(HTTPResponse(original ? *original : *request, 599, {}, {}, request->url, error,
                                io_loop->time() - start_time, std::nullopt, start_wall_time));
    }
    if (stream) stream->close();
  }

  bool should_follow_redirect() const {
    if (!request->follow_redirects) return false;
    return (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) && request->max_redirects > 0 &&
           headers.contains("Location");
  }

  std::optional<Future<void>> headers_received(const httputil::StartLine& start_line,
                                               httputil::HTTPHeaders hs) override {
    const auto& sl = std::get<httputil::ResponseStartLine>(start_line);
    if (sl.code == 100) return std::nullopt;
    code = sl.code;
    reason = sl.reason;
    headers = std::move(hs);
    if (should_follow_redirect()) return std::nullopt;
    if (request->header_callback) {
      request->header_callback(sl.version + " " + std::to_string(sl.code) + " " + sl.reason + "\r\n");
      for (auto [k, v] : headers.get_all()) request->header_callback(std::string(k) + ": " + std::string(v) + "\r\n");
      request->header_callback("\r\n");
    }
    return std::nullopt;
  }

  std::optional<Future<void>> data_received(std::string chunk) override {
    if (should_follow_redirect()) return std::nullopt;  // the redirect's body is dropped
    if (request->streaming_callback)
      request->streaming_callback(std::move(chunk));
    else
      body += chunk;
    return std::nullopt;
  }

  void finish() override {
    remove_timeout();
    if (!final_callback) return;
    if (should_follow_redirect()) {
      auto next = std::make_shared<HTTPRequest>(*request);
      std::string location = *headers.get("Location");
      auto base = boost::urls::parse_uri(request->url);
      auto ref = boost::urls::parse_uri_reference(location);
      if (!base || !ref) {
        handle_exception(std::make_exception_ptr(std::invalid_argument("Invalid redirect Location: " + location)));
        return;
      }
      boost::urls::url target;
      if (auto r = boost::urls::resolve(*base, *ref, target); !r) {
        handle_exception(std::make_exception_ptr(std::invalid_argument("Invalid redirect Location: " + location)));
        return;
      }
      next->url = std::string(target.buffer());
      next->max_redirects = request->max_redirects - 1;
      next->headers.remove("Host");
      // RFC 9110 15.4: 303 turns any method but HEAD into GET; browsers (and so Tornado) turn a
      // POST into a GET after 301 and 302 too.
      if ((code == 303 && request->method != "HEAD") || ((code == 301 || code == 302) && request->method == "POST")) {
        next->method = "GET";
        next->body.reset();
        for (auto name : {"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding"})
          next->headers.remove(name);
      }
      // Credentials are for the origin they were given to: not sent on to another one (as curl
      // and newer Tornado releases do).
      if (origin(request->url) != origin(next->url)) {
        next->headers.remove("Authorization");
        next->headers.remove("Cookie");
        next->auth_username.reset();
        next->auth_password.reset();
      }
      auto cb = std::move(final_callback);
      final_callback = nullptr;
      release();
      client->fetch_impl(std::move(next), original ? original : request, std::move(cb));
      if (stream) stream->close();
      return;
    }
    run_callback(HTTPResponse(original ? *original : *request, code, std::move(headers), std::move(body), request->url,
                              nullptr, io_loop->time() - start_time, reason, start_wall_time));
    if (stream) stream->close();
  }

  void on_connection_close() override {
    if (final_callback) handle_exception(std::make_exception_ptr(HTTPStreamClosedError("Connection closed")));
  }
};

// --- AsyncHTTPClient ------------------------------------------------------------------------------

AsyncHTTPClient::AsyncHTTPClient(ioloop::IOLoop& io_loop, AsyncHTTPClientOptions options, bool shared)
    : io_loop_(&io_loop),
      options_(std::move(options)),
      shared_(shared),
      tcp_client_(std::make_unique<tcpclient::TCPClient>(options_.resolver)) {}

AsyncHTTPClient::~AsyncHTTPClient() {
  for (auto& [key, pending] : waiting_)
    if (pending->timeout) io_loop_->remove_timeout(*pending->timeout);
  if (tcp_client_) tcp_client_->close();
}

std::shared_ptr<AsyncHTTPClient> AsyncHTTPClient::instance(bool force_instance, AsyncHTTPClientOptions options) {
  auto& loop = ioloop::IOLoop::current();
  if (!force_instance) {
    auto& map = instances();
    if (auto it = map.find(&loop); it != map.end()) {
      if (auto existing = it->second.lock()) return existing;
    }
    std::shared_ptr<AsyncHTTPClient> client(new AsyncHTTPClient(loop, std::move(options), true));
    map[&loop] = client;
    return client;
  }
  return std::shared_ptr<AsyncHTTPClient>(new AsyncHTTPClient(loop, std::move(options), false));
}

void AsyncHTTPClient::close() {
  if (closed_) return;
  closed_ = true;
  if (shared_) {
    auto& map = instances();
    if (auto it = map.find(io_loop_); it != map.end() && it->second.lock().get() == this) map.erase(it);
  }
}

Future<HTTPResponse> AsyncHTTPClient::fetch(std::string url, bool raise_error) {
  return fetch(HTTPRequest(std::move(url)), raise_error);
}

Future<HTTPResponse> AsyncHTTPClient::fetch(HTTPRequest request, bool raise_error) {
  if (closed_) throw std::runtime_error("fetch() called on closed AsyncHTTPClient");
  Future<HTTPResponse> future;
  auto req = std::make_shared<HTTPRequest>(std::move(request));
  fetch_impl(req, nullptr, [future, raise_error](HTTPResponse response) mutable {
    if (response.error && (raise_error || !response.error_is_response_code_)) {
      std::exception_ptr error = response.error;
      if (response.error_is_response_code_) {
        // Tornado attaches the response to the error it raises; the copy attached here keeps a
        // fresh error without a response, so that neither owns the other.
        auto attached = std::make_shared<HTTPResponse>(response);
        attached->error = std::make_exception_ptr(HTTPClientError(response.code, response.reason));
        error = std::make_exception_ptr(HTTPClientError(response.code, response.reason, std::move(attached)));
      }
      future_set_exception_unless_cancelled(future, error);
      return;
    }
    future_set_result_unless_cancelled(future, std::move(response));
  });
  return future;
}

void AsyncHTTPClient::fetch_impl(std::shared_ptr<HTTPRequest> request, std::shared_ptr<const HTTPRequest> original,
                                 Callback callback) {
  std::uint64_t key = next_key_++;
  auto pending = std::make_unique<Pending>();
  pending->request = std::move(request);
  pending->original = std::move(original);
  pending->callback = std::move(callback);
  queue_.push_back(key);
  if (active_ >= options_.max_clients) {
    // Waiting for a slot counts against the request's time, as Tornado's "in request queue".
    const auto& r = *pending->request;
    double t = (r.connect_timeout > 0 && r.request_timeout > 0) ? std::min(r.connect_timeout, r.request_timeout)
                                                                 : std::max(r.connect_timeout, r.request_timeout);
    if (t > 0) {
      pending->timeout = io_loop_->add_timeout(io_loop_->time() + t, [weak = weak_from_this(), key] {
        if (auto self = weak.lock()) self->on_queue_timeout(key);
      });
    }
  }
  waiting_.emplace(key, std::move(pending));
  process_queue();
}

void AsyncHTTPClient::process_queue() {
  while (!queue_.empty() && active_ < options_.max_clients) {
    std::uint64_t key = queue_.front();
    queue_.pop_front();
    auto it = waiting_.find(key);
    if (it == waiting_.end()) continue;  // timed out in the queue
    auto pending = std::move(it->second);
    waiting_.erase(it);
    if (pending->timeout) io_loop_->remove_timeout(*pending->timeout);
    ++active_;
    auto conn = std::make_shared<Connection>(shared_from_this(), std::move(pending->request),
                                             std::move(pending->original), std::move(pending->callback));
    // run() reports every failure through the final callback; its own future never fails.
    (void)conn->run();
  }
}

void AsyncHTTPClient::on_queue_timeout(std::uint64_t key) {
  auto it = waiting_.find(key);
  if (it == waiting_.end()) return;
  auto pending = std::move(it->second);
  waiting_.erase(it);
  std::erase(queue_, key);
  HTTPResponse response(pending->original ? *pending->original : *pending->request, 599, {}, {},
                        pending->request->url, std::make_exception_ptr(HTTPTimeoutError("Timeout in request queue")));
  io_loop_->add_callback(
      [cb = std::move(pending->callback), response = std::move(response)]() mutable { cb(std::move(response)); });
}

void AsyncHTTPClient::release_fetch() {
  --active_;
  process_queue();
}

// --- HTTPClient -----------------------------------------------------------------------------------

HTTPClient::HTTPClient(AsyncHTTPClientOptions options) : io_loop_(std::make_unique<ioloop::IOLoop>(false)) {
  // The client binds to the current loop: make it while ours is current.
  async_client_ = io_loop_->run_sync(
      [&]() -> std::shared_ptr<AsyncHTTPClient> { return AsyncHTTPClient::instance(true, std::move(options)); });
}

HTTPClient::~HTTPClient() { close(); }

void HTTPClient::close() {
  if (closed_) return;
  closed_ = true;
  async_client_->close();
  async_client_.reset();
  io_loop_->close(true);
}

HTTPResponse HTTPClient::fetch(HTTPRequest request, bool raise_error) {
  if (closed_) throw std::runtime_error("fetch() called on closed HTTPClient");
  return io_loop_->run_sync([&] { return async_client_->fetch(std::move(request), raise_error); });
}

HTTPResponse HTTPClient::fetch(std::string url, bool raise_error) { return fetch(HTTPRequest(std::move(url)), raise_error); }

}  // namespace tornado::httpclient
