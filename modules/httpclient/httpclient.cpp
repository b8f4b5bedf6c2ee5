// tornado.httpclient: AsyncHTTPClient's queue, the per-request connection (simple_httpclient's
// _HTTPConnection) and the blocking HTTPClient.
module;
#include <sys/socket.h>

#include <boost/url.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
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
#include <vector>
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
      reason(reason ? std::move(*reason) : std::string(httputil::responses(code))),
      headers(std::move(headers)),
      body(std::move(body)),
      effective_url(effective_url.empty() ? this->request.url : std::move(effective_url)),
      error(std::move(error)),
      request_time(request_time),
      start_time(start_time) {
  set_error_from_code();
}

HTTPResponse::HTTPResponse(Taking, HTTPRequest&& request, int code, httputil::HTTPHeaders&& headers,
                           std::string&& body, std::string&& effective_url, double request_time, std::string&& reason,
                           double start_time)
    : request(std::move(request)),
      code(code),
      reason(std::move(reason)),
      headers(std::move(headers)),
      body(std::move(body)),
      effective_url(effective_url.empty() ? this->request.url : std::move(effective_url)),
      request_time(request_time),
      start_time(start_time) {
  set_error_from_code();
}

void HTTPResponse::set_error_from_code() {
  if (!error && (code < 200 || code >= 300)) {
    error_is_response_code_ = true;
    error = std::make_exception_ptr(HTTPClientError(code, reason));
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

// --- the keep-alive pool ----------------------------------------------------------------------

// Idle connections by key (scheme, host, port, TLS settings, proxy, source address), most
// recently used last, each with the time it went idle and a close callback that forgets it when
// the server closes it; one timer for the whole pool closes those idle too long. Also the TLS
// contexts made for requests' settings, so that the system's CA store is not loaded again for
// every HTTPS request.
//
// Connections go in and out of the pool once per request: a timer of their own (added, then
// removed when taken) and a close callback owning a copy of the key cost more than the rest of
// the pool's work, hence the shared timer and the callback that names the connection by id only.
struct AsyncHTTPClient::Pool {
  struct Idle {
    std::uint64_t id;
    std::shared_ptr<iostream::IOStream> stream;
    double since;  // IOLoop::time() when it went idle
  };
  explicit Pool(AsyncHTTPClient& owner) : owner(owner) {}
  ~Pool() { clear(); }

  AsyncHTTPClient& owner;
  // Oldest first. A key's vector stays when it empties (the next put would make it again, with
  // its map node and storage): expire() removes the empty ones, so keys no longer used go.
  std::map<std::string, std::vector<Idle>, std::less<>> idle;
  std::map<std::string, netutil::SSLContext> tls_contexts;
  std::uint64_t next_id = 0;
  std::size_t count = 0;
  ioloop::TimeoutHandle timer;  // the next idle expiry, if armed

  // An idle connection for `key` that still looks alive (not closed, nothing unsolicited
  // buffered), or null. The most recently used first: the likeliest to be alive.
  std::shared_ptr<iostream::IOStream> take(std::string_view key) {
    auto it = idle.find(key);
    if (it == idle.end()) return nullptr;
    std::shared_ptr<iostream::IOStream> found;
    while (!found && !it->second.empty()) {
      Idle entry = std::move(it->second.back());
      it->second.pop_back();
      --count;
      entry.stream->set_close_callback(nullptr);
      if (entry.stream->closed() || !entry.stream->read_buffer().empty())
        entry.stream->close();
      else
        found = std::move(entry.stream);
    }
    return found;
  }

  // Keeps `stream` for a later request to `key`, closing the oldest idle one past the cap.
  void put(std::string_view key, std::shared_ptr<iostream::IOStream> stream) {
    std::size_t cap = owner.idle_cap();
    if (owner.closed_ || cap == 0 || stream->closed()) {
      stream->close();
      return;
    }
    auto it = idle.find(key);
    if (it == idle.end()) it = idle.emplace(std::string(key), std::vector<Idle>()).first;
    auto& queue = it->second;
    while (queue.size() >= cap) {
      Idle oldest = std::move(queue.front());
      queue.erase(queue.begin());
      --count;
      oldest.stream->set_close_callback(nullptr);
      oldest.stream->close();
    }
    std::uint64_t id = next_id++;
    // The server may close an idle connection at any time (RFC 9112 9.5): forget it then. The
    // callback runs on a later iteration, when the client may be gone: hence the weak pointer.
    stream->set_close_callback([weak = owner.weak_from_this(), id] {
      if (auto self = weak.lock()) self->pool_->drop(id);
    });
    double now = owner.io_loop_->time();
    queue.push_back(Idle{id, std::move(stream), now});
    ++count;
    arm(now + owner.options_.idle_connection_timeout);
  }

  // Makes sure the timer fires by `when` (an earlier timer will re-arm itself for the rest).
  void arm(double when) {
    if (timer) return;
    timer = owner.io_loop_->call_at(when, [weak = owner.weak_from_this()] {
      if (auto self = weak.lock()) self->pool_->expire();
    });
  }

  // Closes the connections idle for idle_connection_timeout, and waits for the next one.
  void expire() {
    timer = {};
    double now = owner.io_loop_->time();
    double timeout = owner.options_.idle_connection_timeout;
    std::optional<double> next;
    for (auto it = idle.begin(); it != idle.end();) {
      auto& queue = it->second;
      // Oldest first in each queue.
      std::size_t expired = 0;
      while (expired < queue.size() && queue[expired].since + timeout <= now) {
        Idle& entry = queue[expired++];
        --count;
        entry.stream->set_close_callback(nullptr);
        entry.stream->close();
      }
      queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(expired));
      if (!queue.empty() && (!next || queue.front().since + timeout < *next)) next = queue.front().since + timeout;
      it = queue.empty() ? idle.erase(it) : std::next(it);
    }
    if (next) arm(*next);
  }

  // Forgets idle connection `id`, which the server closed.
  void drop(std::uint64_t id) {
    for (auto it = idle.begin(); it != idle.end(); ++it) {
      auto& queue = it->second;
      for (auto e = queue.begin(); e != queue.end(); ++e) {
        if (e->id != id) continue;
        Idle entry = std::move(*e);
        queue.erase(e);
        --count;
        entry.stream->close();
        return;
      }
    }
  }

  // Closes every idle connection.
  void clear() {
    for (auto& [key, queue] : idle) {
      for (auto& entry : queue) {
        entry.stream->set_close_callback(nullptr);
        entry.stream->close();
      }
    }
    idle.clear();
    count = 0;
    if (timer) owner.io_loop_->remove_timeout(timer);
    timer = {};
  }
};

namespace {

// RFC 9110 9.2.2: requests that may be sent again without changing what they do.
bool is_idempotent(std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
    if (method == m) return true;
  return false;
}

// Whether a comma-separated header value (Connection) holds `token`, case-insensitively.
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.size() == token.size() &&
        std::equal(item.begin(), item.end(), token.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// "host:port" with IPv6 brackets, for CONNECT's target (RFC 9110 9.3.6: authority form).
std::string authority(const std::string& host, std::uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// The context of every client-side HTTP1Connection (only its logging reads it): shared, rather
// than a copy of an empty one made for each request.
const httputil::RequestContext& client_context() {
  static const httputil::RequestContext context;
  return context;
}

// Appends "host:port" (IPv6 brackets added) to `out`, the host in lower case if `lower`.
void append_authority(std::string& out, std::string_view host, std::uint16_t port, bool lower) {
  bool v6 = host.find(':') != std::string_view::npos;
  if (v6) out += '[';
  std::size_t at = out.size();
  out += host;
  if (lower) {
    for (std::size_t i = at; i < out.size(); ++i)
      if (out[i] >= 'A' && out[i] <= 'Z') out[i] = static_cast<char>(out[i] + ('a' - 'A'));
  }
  if (v6) out += ']';
  out += ':';
  char digits[8];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, port);
  out.append(digits, end);
}

// What a request needs of its URL.
struct ParsedURL {
  std::string scheme;  // in lower case
  std::string host;    // without IPv6 brackets, percent-decoded
  std::uint16_t port = 0;
  std::string netloc;  // host[:port] as written (userinfo left out), for Host
  std::string path;    // as written (percent-encoded); may be empty
  std::optional<std::string> query;  // as written, without the '?'
  std::optional<std::pair<std::string, std::string>> userpass;  // percent-decoded
};

// Parses an absolute URL. @returns false if it is not one.
bool parse_url(std::string_view url, ParsedURL& out) {
  // Boost.URL, even where a hand-written parser of the common case would be cheaper (about 3,700
  // instructions per fetch): URL parsing is its job, not ours.
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return false;
  out.scheme.assign(parsed->scheme());
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  // host_address() is the host without IPv6 brackets, percent-decoded.
  out.host = std::string(parsed->host_address());
  out.port = parsed->has_port() ? parsed->port_number() : (out.scheme == "https" ? 443 : 80);
  out.netloc = std::string(parsed->encoded_host_and_port());
  out.path = std::string(parsed->encoded_path());
  if (parsed->has_query()) out.query.emplace(parsed->encoded_query());
  if (parsed->has_userinfo()) out.userpass.emplace(std::string(parsed->user()), std::string(parsed->password()));
  return true;
}


}  // namespace

// --- one request on one connection ------------------------------------------------------------

// simple_httpclient._HTTPConnection: connects (or takes a pooled connection), sends the request,
// reads the response as the HTTP1Connection's message delegate, gives the connection back to the
// pool when it can carry another request, and then either follows a redirect or hands the
// response to the final callback (exactly once, whatever happens: timeout, error, close).
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
    if (finished || redirect) {
      deliver(false);
    } else if (final_callback) {
      run_callback(HTTPResponse(original ? *original : *request, 599, {}, {}, request->url,
                                std::make_exception_ptr(HTTPStreamClosedError("Connection closed")),
                                io_loop->time() - start_time, std::nullopt, start_wall_time),
                   false);
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
  std::optional<http1connection::HTTP1Connection> connection;  // in place: one allocation less
  std::optional<ioloop::TimeoutHandle> timeout;
  int code = 0;
  std::string reason;
  httputil::HTTPHeaders headers;
  std::string body;
  bool body_written = false;      // the whole request went out (finish() was called)
  bool response_keep_alive = false;  // the final response lets the connection carry another request
  // From finish() until the connection went back to the pool: whether there is a response to
  // deliver (code, reason, headers, body above), or the request a followed redirect leads to.
  bool finished = false;
  double request_time = 0;  // seconds, from the start to the end of the response
  std::shared_ptr<HTTPRequest> redirect;

  const AsyncHTTPClientOptions& opts() const { return client->options_; }

  // The TLS context for this request: its own ssl_options, or one made from its settings (and
  // kept by the client for the next request with the same settings).
  netutil::SSLContext tls_context(const std::string& settings) {
    if (request->ssl_options) return *request->ssl_options;
    auto& contexts = client->pool_->tls_contexts;
    if (auto it = contexts.find(settings); it != contexts.end()) return it->second;
    netutil::SSLOptions o;
    o.ca_certs = request->ca_certs;
    if (!request->validate_cert) o.cert_reqs = netutil::CertReqs::none;
    o.certfile = request->client_cert;
    o.keyfile = request->client_key;
    auto ctx = netutil::ssl_options_to_context(o, false);
    contexts.emplace(settings, ctx);
    return ctx;
  }

  // The whole request, in one coroutine: each coroutine awaited from another costs a frame and a
  // loop iteration when it completes, and a fetch on a pooled connection is short enough for
  // that to show.
  Future<void> run() {
    auto self = shared_from_this();  // the frame keeps the delegate alive until the end
    try {
      ParsedURL url;
      if (!parse_url(request->url, url)) throw std::invalid_argument("Invalid URL: " + request->url);
      const std::string& scheme = url.scheme;
      if (scheme != "http" && scheme != "https") throw std::invalid_argument("Unsupported url scheme: " + request->url);
      const std::string& host = url.host;
      const std::uint16_t port = url.port;

      // Everything about the request is checked before a connection is made.
      static constexpr std::string_view kBodyMethods[] = {"POST", "PATCH", "PUT"};
      static constexpr std::string_view kKnownMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
      if (!request->allow_nonstandard_methods &&
          std::find(std::begin(kKnownMethods), std::end(kKnownMethods), request->method) == std::end(kKnownMethods))
        throw std::invalid_argument("unknown method " + request->method);
      if (!request->network_interface.empty() && !netutil::is_valid_ip(request->network_interface))
        throw std::invalid_argument("Unrecognized IPv4 or IPv6 address for network_interface, got '" +
                                    request->network_interface + "'");
      const bool via_proxy = !request->proxy_host.empty();
      const bool tunnel = via_proxy && scheme == "https";
      if (via_proxy && request->proxy_auth_mode != "basic")
        throw std::invalid_argument("unsupported proxy_auth_mode " + request->proxy_auth_mode);

      // The headers sent are a copy: the request (which a redirect copies) keeps the caller's.
      httputil::HTTPHeaders h = request->headers;
      const bool pooling = client->idle_cap() > 0;
      if (!pooling && !h.contains("Connection")) h.set("Connection", "close");
      const bool wants_close = has_token(h.get("Connection", ""), "close");
      if (!h.contains("Host")) {
        // A userinfo part is never sent in Host (RFC 9110 7.2).
        h.set("Host", url.netloc);
      }
      std::optional<std::string> username = request->auth_username, password = request->auth_password;
      if (url.userpass) {
        username = url.userpass->first;
        password = url.userpass->second;
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
        bool body_present = request->body.has_value() || static_cast<bool>(request->body_producer);
        if (body_expected != body_present)
          throw std::invalid_argument(std::string("Body must ") + (body_expected ? "not " : "") +
                                      "be None for method " + request->method +
                                      " (unless allow_nonstandard_methods is true)");
      }
      if (request->expect_100_continue) h.set("Expect", "100-continue");
      // With a body_producer the caller sets Content-Length, or the body is chunked.
      if (request->body) h.set("Content-Length", std::to_string(request->body->size()));
      if (request->method == "POST" && !h.contains("Content-Type"))
        h.set("Content-Type", "application/x-www-form-urlencoded");
      if (request->decompress_response) h.set("Accept-Encoding", "gzip");
      if (request->if_modified_since && !h.contains("If-Modified-Since"))
        h.set("If-Modified-Since", httputil::format_timestamp(*request->if_modified_since));
      std::string proxy_authorization;
      if (via_proxy && request->proxy_username)
        proxy_authorization = "Basic " + base64(httputil::encode_username_password(
                                             *request->proxy_username, request->proxy_password.value_or("")));
      // A proxy is asked for plain http:// URLs in absolute form (RFC 9112 3.2.2).
      if (via_proxy && !tunnel && !proxy_authorization.empty()) h.set("Proxy-Authorization", proxy_authorization);

      std::string req_path = std::move(url.path);
      if (req_path.empty()) req_path = "/";
      if (url.query) {
        req_path += '?';
        req_path += *url.query;
      }
      if (via_proxy && !tunnel) req_path = scheme + "://" + url.netloc + req_path;

      // The pool key: everything that makes one connection differ from another.
      std::string tls_settings;
      if (scheme == "https") {
        if (request->ssl_options)
          tls_settings = "ctx=" + std::to_string(reinterpret_cast<std::uintptr_t>(request->ssl_options->native_handle()));
        else
          tls_settings = std::string("validate=") + (request->validate_cert ? "1" : "0") + "|ca=" + request->ca_certs +
                         "|cert=" + request->client_cert + "|key=" + request->client_key;
      }
      std::string key;
      key.reserve(scheme.size() + host.size() + tls_settings.size() + request->network_interface.size() + 32);
      key += scheme;
      key += "://";
      append_authority(key, host, port, true);
      key += '|';
      key += tls_settings;
      key += "|src=";
      key += request->network_interface;
      if (!request->allow_ipv6) key += "|ipv4";
      if (via_proxy) {
        key += "|proxy=";
        append_authority(key, request->proxy_host, request->proxy_port ? request->proxy_port : 80, false);
        key += '|';
        key += proxy_authorization;
      }

      http1connection::HTTP1ConnectionParameters params;
      params.no_keep_alive = !pooling;
      params.max_header_size = request->max_header_size ? request->max_header_size
                               : opts().max_header_size ? opts().max_header_size
                                                        : params.max_header_size;
      params.max_body_size = request->max_body_size ? request->max_body_size : opts().max_body_size;
      params.decompress = request->decompress_response;

      // A pooled connection skips the connect phase and its timer: the request's own timer starts
      // at once.
      std::shared_ptr<iostream::IOStream> pooled;
      if (pooling) pooled = client->pool_->take(key);
      if (!pooled) {
        double timeout_s = 0;
        if (request->connect_timeout > 0 && request->request_timeout > 0)
          timeout_s = std::min(request->connect_timeout, request->request_timeout);
        else
          timeout_s = std::max(request->connect_timeout, request->request_timeout);
        if (timeout_s > 0) {
          timeout = io_loop->add_timeout(start_time + timeout_s, [weak = weak_from_this()] {
            if (auto self = weak.lock()) self->on_timeout("while connecting");
          });
        }
      }

      const bool retry_safe = is_idempotent(request->method) && !request->body_producer;
      httputil::RequestStartLine start_line{request->method, std::move(req_path), ""};
      for (int attempt = 0;; ++attempt) {
        std::shared_ptr<iostream::IOStream> s = std::move(pooled);
        const bool reused = static_cast<bool>(s);
        if (!s) {
          s = co_await open_stream(scheme, host, port, tunnel, tls_settings, params.max_header_size);
          if (!final_callback) {
            // The request ended (timed out) while connecting.
            s->close();
            co_return;
          }
          // Once per connection: a pooled one keeps it.
          s->set_nodelay(true);
        }
        stream = s;
        if (attempt == 0) {
          remove_timeout();
          if (request->request_timeout > 0) {
            timeout = io_loop->add_timeout(start_time + request->request_timeout, [weak = weak_from_this()] {
              if (auto self = weak.lock()) self->on_timeout("during request");
            });
          }
        }
        connection.emplace(stream, true, params, &client_context());
        // Writes the request; on a reused connection, waits for the response to start, to tell a
        // connection the server closed before it saw the request (StreamClosedError) from a
        // failure later on.
        bool stale = false;
        try {
          co_await connection->write_headers(start_line, h);
          if (!request->expect_100_continue) {
            if (request->body_producer) {
              co_await write_body();
            } else {
              // A body in hand needs no coroutine of its own (one frame less per request).
              if (request->body && !request->body->empty()) co_await connection->write(*request->body);
              finish_request();
            }
          }
          if (reused && stream->read_buffer().empty()) co_await stream->read_more();
        } catch (const iostream::StreamClosedError&) {
          if (!reused) throw;
          stale = true;
        }
        if (!stale) break;
        // The server closed the idle connection before it saw our request (or without answering
        // it): nothing of the response arrived, so sending the request again is safe if the
        // method is idempotent (RFC 9110 9.2.2). Once, on a fresh connection.
        if (!final_callback) co_return;
        connection.reset();
        stream->close();
        stream.reset();
        if (!retry_safe || attempt > 0) throw HTTPStreamClosedError("Connection closed by the server before the response");
      }

      bool keep = co_await connection->read_response(*this);
      if (!finished && !redirect) {
        // The message ended without a response (on_connection_close answered, or will now).
        if (final_callback) handle_exception(std::make_exception_ptr(HTTPStreamClosedError("Connection closed")));
        co_return;
      }
      bool reusable = keep && pooling && body_written && !wants_close && response_keep_alive && stream &&
                      !stream->closed() && !stream->writing() && stream->read_buffer().empty();
      if (reusable) {
        connection.reset();
        client->pool_->put(key, std::move(stream));
      } else if (stream) {
        stream->close();
      }
      stream.reset();
      // This runs on an iteration of its own (resumed by the read): the response may be handed
      // over now rather than on the next iteration.
      deliver(true);
    } catch (...) {
      handle_exception(std::current_exception());
    }
  }

  // Connects to the server (or the proxy), through a CONNECT tunnel for https:// via a proxy,
  // and runs the TLS handshake for https://.
  Future<std::shared_ptr<iostream::IOStream>> open_stream(std::string scheme, std::string host, std::uint16_t port,
                                                          bool tunnel, std::string tls_settings,
                                                          std::size_t max_header_size) {
    auto self = shared_from_this();
    int af = request->allow_ipv6 ? AF_UNSPEC : AF_INET;
    double timeout_s = 0;
    if (request->connect_timeout > 0 && request->request_timeout > 0)
      timeout_s = std::min(request->connect_timeout, request->request_timeout);
    else
      timeout_s = std::max(request->connect_timeout, request->request_timeout);
    std::optional<double> connect_timeout;
    if (timeout_s > 0) connect_timeout = std::max(0.0, start_time + timeout_s - io_loop->time());
    const bool via_proxy = !request->proxy_host.empty();
    std::string connect_host = via_proxy ? request->proxy_host : host;
    std::uint16_t connect_port = via_proxy ? (request->proxy_port ? request->proxy_port : 80) : port;
    std::optional<netutil::SSLContext> tls;
    if (scheme == "https") tls = tls_context(tls_settings);

    std::unique_ptr<iostream::IOStream> s;
    try {
      auto& tcp = *client->tcp_client_;
      std::size_t max_buffer = opts().max_buffer_size;
      if (tls && !via_proxy)
        s = co_await tcp.connect(host, port, *tls, af, max_buffer, request->network_interface, 0, connect_timeout);
      else
        s = co_await tcp.connect(connect_host, connect_port, af, max_buffer, request->network_interface, 0,
                                 connect_timeout);
    } catch (const TimeoutError&) {
      throw HTTPTimeoutError("Timeout while connecting");
    }
    if (!tunnel) co_return std::shared_ptr<iostream::IOStream>(std::move(s));

    // RFC 9110 9.3.6: CONNECT host:port, then TLS with the origin server inside the tunnel.
    std::shared_ptr<iostream::IOStream> plain(std::move(s));
    stream = plain;  // a timeout meanwhile closes it
    std::string target = authority(host, port);
    std::string connect = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
    if (request->proxy_username)
      connect += "Proxy-Authorization: Basic " +
                 base64(httputil::encode_username_password(*request->proxy_username,
                                                           request->proxy_password.value_or(""))) +
                 "\r\n";
    connect += "\r\n";
    co_await plain->write(std::move(connect));
    std::string head = co_await plain->read_until("\r\n\r\n", max_header_size);
    auto line_end = head.find("\r\n");
    auto status = httputil::parse_response_start_line(std::string_view(head).substr(0, line_end));
    if (status.code < 200 || status.code >= 300) {
      plain->close();
      throw HTTPClientError(status.code, "Tunnel connection failed: " + std::to_string(status.code) + " " +
                                             status.reason);
    }
    if (!final_callback) co_return plain;
    auto tls_stream = co_await static_cast<iostream::IOStream&>(*plain).start_tls(false, *tls, host);
    stream.reset();
    co_return std::shared_ptr<iostream::IOStream>(std::move(tls_stream));
  }

  Future<void> write_body() {
    if (request->body) {
      if (!request->body->empty()) co_await connection->write(*request->body);
    } else if (request->body_producer) {
      co_await request->body_producer([weak = weak_from_this()](std::string_view chunk) -> Future<void> {
        auto self = weak.lock();
        if (!self || !self->connection) {
          Future<void> f;
          f.set_exception(std::make_exception_ptr(iostream::StreamClosedError()));
          return f;
        }
        return self->connection->write(chunk);
      });
    }
    if (!connection) co_return;
    finish_request();
  }

  // The request is all written: its end goes out (the last chunk, if chunked).
  void finish_request() {
    connection->finish();
    body_written = true;
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

  // Hands `response` to the final callback, once: at once if `now` (only from an iteration of
  // our own, never from inside a stream's or the HTTP1Connection's call, which the callback
  // could re-enter), else on a later iteration.
  void run_callback(HTTPResponse response, bool now) {
    release();
    if (!final_callback) return;
    auto cb = std::move(final_callback);
    final_callback = nullptr;
    if (now) {
      // The callback completes the fetch's future, whose waiters run on a later iteration.
      cb(std::move(response));
      return;
    }
    io_loop->add_callback([cb = std::move(cb), response = std::move(response)]() mutable { cb(std::move(response)); });
  }

  // Delivers what finish() kept: follows the redirect, or hands the response over (`now`: see
  // run_callback).
  void deliver(bool now) {
    if (redirect) {
      auto next = std::move(redirect);
      redirect = nullptr;
      auto cb = std::move(final_callback);
      final_callback = nullptr;
      release();
      if (cb) client->fetch_impl(std::move(next), original ? original : request, std::move(cb));
    } else if (finished) {
      finished = false;
      // After redirects, the URL of the last hop.
      std::string effective_url = original ? request->url : std::string();
      // The response carries the request as given to fetch. Nothing else holds it once the
      // request is done (a redirect's hops share `original`, which is copied): moved, not copied,
      // and straight into the response (a request is big: each move costs).
      std::optional<HTTPRequest> copy;
      if (original || request.use_count() != 1) copy.emplace(original ? *original : *request);
      run_callback(HTTPResponse(HTTPResponse::Taking{}, copy ? std::move(*copy) : std::move(*request), code,
                                std::move(headers), std::move(body), std::move(effective_url), request_time,
                                std::move(reason), start_wall_time),
                   now);
    }
  }

  void on_timeout(const std::string& info) {
    timeout.reset();
    if (final_callback) handle_exception(std::make_exception_ptr(HTTPTimeoutError("Timeout " + info)));
  }

  void handle_exception(std::exception_ptr error) {
    if (finished || redirect) {
      // The response was complete; what failed after it only costs the connection.
      if (stream) stream->close();
      deliver(false);
      return;
    }
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
                                io_loop->time() - start_time, std::nullopt, start_wall_time),
                   false);
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
    if (sl.code == 100) {
      if (request->expect_100_continue && !body_written) return write_body();
      return std::nullopt;
    }
    code = sl.code;
    reason = sl.reason;
    headers = std::move(hs);
    // RFC 9112 9.3: HTTP/1.1 persists unless told to close; HTTP/1.0 only if told to keep alive.
    std::string conn = headers.get("Connection", "");
    response_keep_alive = sl.version == "HTTP/1.1" ? !has_token(conn, "close") : has_token(conn, "keep-alive");
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
        next->body_producer = nullptr;
        next->expect_100_continue = false;
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
      redirect = std::move(next);
      return;
    }
    finished = true;
    request_time = io_loop->time() - start_time;
  }

  void on_connection_close() override {
    if (!final_callback || finished || redirect) return;
    std::string message = "Connection closed";
    if (stream && stream->error()) message = describe(stream->error());
    handle_exception(std::make_exception_ptr(HTTPStreamClosedError(message)));
  }
};

// --- AsyncHTTPClient ------------------------------------------------------------------------------

AsyncHTTPClient::AsyncHTTPClient(ioloop::IOLoop& io_loop, AsyncHTTPClientOptions options, bool shared)
    : io_loop_(&io_loop), options_(std::move(options)), shared_(shared), pool_(std::make_unique<Pool>(*this)) {
  std::shared_ptr<netutil::Resolver> resolver = options_.resolver;
  if (!options_.hostname_mapping.empty()) {
    // As SimpleAsyncHTTPClient: the mapping wraps the resolver given, or one of our own.
    if (!resolver) {
      resolver = std::make_shared<netutil::DefaultExecutorResolver>();
      own_resolver_ = true;
    }
    resolver = std::make_shared<netutil::OverrideResolver>(std::move(resolver), options_.hostname_mapping);
  }
  tcp_client_ = std::make_unique<tcpclient::TCPClient>(std::move(resolver));
}

AsyncHTTPClient::~AsyncHTTPClient() {
  for (auto& [key, pending] : waiting_)
    if (pending->timeout) io_loop_->remove_timeout(*pending->timeout);
  pool_.reset();
  if (tcp_client_) {
    tcp_client_->close();
    if (own_resolver_) tcp_client_->resolver()->close();
  }
}

std::size_t AsyncHTTPClient::idle_connection_count() const noexcept { return pool_->count; }

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
  pool_->clear();
}

Future<HTTPResponse> AsyncHTTPClient::fetch(std::string url, bool raise_error) {
  if (closed_) throw std::runtime_error("fetch() called on closed AsyncHTTPClient");
  // Made in place: a request is big, and moving it costs as much as making it.
  auto req = options_.defaults ? std::make_shared<HTTPRequest>(*options_.defaults) : std::make_shared<HTTPRequest>();
  req->url = std::move(url);
  return fetch_shared(std::move(req), raise_error);
}

Future<HTTPResponse> AsyncHTTPClient::fetch(HTTPRequest request, bool raise_error) {
  if (closed_) throw std::runtime_error("fetch() called on closed AsyncHTTPClient");
  return fetch_shared(std::make_shared<HTTPRequest>(std::move(request)), raise_error);
}

Future<HTTPResponse> AsyncHTTPClient::fetch_shared(std::shared_ptr<HTTPRequest> req, bool raise_error) {
  Future<HTTPResponse> future;
  fetch_impl(std::move(req), nullptr, [future, raise_error](HTTPResponse&& response) mutable {
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
  if (active_ < options_.max_clients && queue_.empty()) {
    // A free slot and nobody waiting: start at once, without a turn through the queue.
    start(std::move(request), std::move(original), std::move(callback));
    return;
  }
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
    start(std::move(pending->request), std::move(pending->original), std::move(pending->callback));
  }
}

void AsyncHTTPClient::start(std::shared_ptr<HTTPRequest> request, std::shared_ptr<const HTTPRequest> original,
                            Callback callback) {
  ++active_;
  auto conn = std::make_shared<Connection>(shared_from_this(), std::move(request), std::move(original),
                                           std::move(callback));
  // run() reports every failure through the final callback; its own future never fails.
  (void)conn->run();
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
