// tornado.httpclient: a non-blocking HTTP/1.1 client (AsyncHTTPClient) and a blocking wrapper
// (HTTPClient). The transport is Tornado's simple_httpclient (connections made with TCPClient,
// spoken with HTTP1Connection in client mode), plus two things Tornado's does not do: keep-alive
// connections reused across requests (tornado issues #324 and #2619), and HTTP proxies (plain
// requests in absolute form, CONNECT tunnels for HTTPS). Mirrors tornado.httpclient and
// tornado.simple_httpclient.
module;
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
export module tornado.httpclient;

export import tornado.concurrent;
export import tornado.httputil;
export import tornado.ioloop;
export import tornado.netutil;
import tornado.tcpclient;

export namespace tornado::httpclient {

/// One HTTP request to send: the URL and everything about how to send it, with Tornado's
/// defaults. Mirrors tornado.httpclient.HTTPRequest (with HTTPRequest._DEFAULTS applied).
struct HTTPRequest {
  /// A GET of `url` with the defaults below.
  HTTPRequest(std::string url = {}, std::string method = "GET") : url(std::move(url)), method(std::move(method)) {}

  /// What body_producer is given: writes one piece of the body (chunk framing added when the body
  /// is chunked) and returns a future that completes when it was handed to the kernel (flow
  /// control); the future fails with iostream::StreamClosedError if the connection closed.
  using WriteFunction = std::function<Future<void>(std::string_view chunk)>;
  /// A coroutine that writes the request body through the function it is given, and completes when
  /// the body is complete. Mirrors HTTPRequest.body_producer.
  using BodyProducer = std::function<Future<void>(WriteFunction write)>;

  std::string url;                      ///< absolute http:// or https:// URL
  std::string method = "GET";           ///< "GET", "POST"...
  httputil::HTTPHeaders headers;        ///< extra headers to send
  /// The body. POST, PUT and PATCH need one (this or body_producer, possibly empty); other
  /// methods must have none, unless allow_nonstandard_methods. Sent with a Content-Length.
  std::optional<std::string> body;
  /// Produces the body as it goes, instead of `body`. Without a Content-Length in `headers` the
  /// body is sent chunked (RFC 9112 7.1); with one, the producer must write exactly that many
  /// bytes (else the request fails with httputil::HTTPOutputError). A request with a producer is
  /// never retried on a fresh connection (see AsyncHTTPClientOptions::max_idle_connections_per_host).
  BodyProducer body_producer;
  /// Sends `Expect: 100-continue` and the headers alone, and the body only once the server answers
  /// 100 (Continue). If it answers with a final status instead, that is the response and the body
  /// is never sent (nor body_producer called). Mirrors HTTPRequest.expect_100_continue.
  bool expect_100_continue = false;
  /// Sends `If-Modified-Since` with this time (seconds since the epoch, formatted by
  /// httputil::format_timestamp), unless `headers` already has one. Mirrors if_modified_since.
  std::optional<double> if_modified_since;
  std::optional<std::string> auth_username;  ///< for HTTP basic authentication
  std::optional<std::string> auth_password;  ///< for HTTP basic authentication
  std::string auth_mode = "basic";      ///< only "basic" is supported (as simple_httpclient)
  double connect_timeout = 20.0;        ///< seconds to connect (TLS handshake included); 0: no limit
  double request_timeout = 20.0;        ///< seconds for the whole request, connecting included; 0: no limit
  bool follow_redirects = true;         ///< follow 301, 302, 303, 307 and 308 responses
  int max_redirects = 5;                ///< redirects followed at most; past it the 3xx response is returned
  std::string user_agent;               ///< User-Agent to send (default "Tornado/6.2")
  bool decompress_response = true;      ///< send `Accept-Encoding: gzip` and gunzip gzip bodies
  bool allow_nonstandard_methods = false;  ///< skip the body/method consistency check
  bool validate_cert = true;            ///< for HTTPS: verify the server's certificate and hostname
  std::string ca_certs;                 ///< for HTTPS: PEM file of trusted CAs (empty: the system's)
  std::string client_cert;              ///< for HTTPS: PEM certificate (chain) to present to the server
  std::string client_key;               ///< for HTTPS: PEM private key of client_cert (empty: in client_cert)
  /// For HTTPS: a client TLS context to use as it is; validate_cert, ca_certs, client_cert and
  /// client_key are then ignored. Mirrors HTTPRequest.ssl_options given an ssl.SSLContext.
  std::optional<netutil::SSLContext> ssl_options;
  bool allow_ipv6 = true;               ///< resolve the host to IPv6 addresses too (false: IPv4 only)
  /// A numeric IP address to bind the connection's local end to (empty: any). A value that is not
  /// an IP address fails the request with std::invalid_argument. Mirrors network_interface.
  std::string network_interface;
  std::size_t max_header_size = 0;      ///< bytes of response start line plus headers (0: the client's, 64 KiB)
  /// Bytes of response body, counted after gunzipping (0: the client's, 100 MiB).
  std::size_t max_body_size = 0;
  /// An HTTP proxy to send the request through (empty: none). http:// URLs are requested from it
  /// in absolute form (RFC 9112 3.2.2); https:// URLs go through a CONNECT tunnel (RFC 9110
  /// 9.3.6), inside which TLS runs end to end with the origin server. A tunnel the proxy refuses
  /// fails the request with HTTPClientError(the proxy's status). Mirrors HTTPRequest.proxy_host
  /// (which only curl_httpclient supports in Tornado).
  std::string proxy_host;
  std::uint16_t proxy_port = 0;         ///< the proxy's port (0: 80)
  std::optional<std::string> proxy_username;  ///< for the proxy's basic authentication (Proxy-Authorization)
  std::optional<std::string> proxy_password;  ///< for the proxy's basic authentication
  std::string proxy_auth_mode = "basic";  ///< only "basic" is supported
  /// If set, each chunk of the response body is passed to it, and HTTPResponse::body stays empty.
  std::function<void(std::string chunk)> streaming_callback;
  /// If set, receives the response's status line, then each header line ("Name: value\r\n"), then
  /// "\r\n" (not for redirects that are followed).
  std::function<void(std::string line)> header_callback;
};

class HTTPResponse;

/// An HTTP request failed: a non-2xx response (code is the status), or 599 when no response came
/// (HTTPTimeoutError, HTTPStreamClosedError). `what()` is "HTTP <code>: <message>".
/// Mirrors tornado.httpclient.HTTPClientError.
class HTTPClientError : public std::runtime_error {
 public:
  /// @param message  defaults to the status's reason phrase ("Not Found").
  /// @param response  the response, when there is one.
  explicit HTTPClientError(int code, std::optional<std::string> message = std::nullopt,
                           std::shared_ptr<const HTTPResponse> response = nullptr);
  int code;
  std::string message;
  /// The response that failed (raise_error=true), or null. Its own `error` is a copy of this
  /// error without a response, so that the two do not own each other.
  std::shared_ptr<const HTTPResponse> response;
};

/// The request timed out: while connecting, while queued, or during the request (code 599).
/// Mirrors tornado.simple_httpclient.HTTPTimeoutError.
class HTTPTimeoutError : public HTTPClientError {
 public:
  explicit HTTPTimeoutError(const std::string& message) : HTTPClientError(599, message) {}
};

/// The connection could not be made or closed before the response was complete (code 599); the
/// message says why ("Connection refused", "Connection closed"). Tornado raises the underlying
/// OSError when it has one; here it is always this type. Mirrors
/// tornado.simple_httpclient.HTTPStreamClosedError.
class HTTPStreamClosedError : public HTTPClientError {
 public:
  explicit HTTPStreamClosedError(const std::string& message) : HTTPClientError(599, message) {}
};

/// The response to an HTTPRequest. Mirrors tornado.httpclient.HTTPResponse.
class HTTPResponse {
 public:
  /// A response; a code outside 200-299 with no `error` gets HTTPClientError(code, reason).
  HTTPResponse(HTTPRequest request, int code, httputil::HTTPHeaders headers = {}, std::string body = {},
               std::string effective_url = {}, std::exception_ptr error = nullptr, double request_time = 0,
               std::optional<std::string> reason = std::nullopt, double start_time = 0);

  HTTPRequest request;            ///< the request as given to fetch (before redirects)
  int code;                       ///< the status code (599: no response, see error)
  std::string reason;             ///< the reason phrase sent (or the standard one)
  httputil::HTTPHeaders headers;  ///< the response headers
  std::string body;               ///< the body (empty with a streaming_callback)
  std::string effective_url;      ///< the URL after redirects
  std::exception_ptr error;       ///< what failed, or null
  double request_time;            ///< seconds from the start of the request to the end of the response
  double start_time;              ///< wall-clock seconds since the epoch when the request started

  /// Throws `error` if there is one. Mirrors HTTPResponse.rethrow.
  void rethrow() const;

 private:
  friend class AsyncHTTPClient;
  // The client's: takes the request (big, and moved once instead of twice) and the rest by rvalue.
  struct Taking {};
  HTTPResponse(Taking, HTTPRequest&& request, int code, httputil::HTTPHeaders&& headers, std::string&& body,
               std::string&& effective_url, double request_time, std::string&& reason, double start_time);
  void set_error_from_code();
  bool error_is_response_code_ = false;
};

/// Options of an AsyncHTTPClient (keyword arguments of SimpleAsyncHTTPClient.initialize), plus the
/// keep-alive pool's settings.
struct AsyncHTTPClientOptions {
  std::size_t max_clients = 10;         ///< requests in flight at once; the others wait in a queue
  std::size_t max_buffer_size = 0;      ///< bytes a connection buffers (0: 100 MiB)
  std::size_t max_header_size = 0;      ///< default for HTTPRequest::max_header_size
  std::size_t max_body_size = 0;        ///< default for HTTPRequest::max_body_size
  std::shared_ptr<netutil::Resolver> resolver;  ///< resolver to use (null: the default one)
  /// Host names (or (host, port) pairs) to connect somewhere else, as /etc/hosts would, through a
  /// netutil::OverrideResolver around `resolver`. The Host header and TLS name checks still use
  /// the URL's host. Mirrors SimpleAsyncHTTPClient's hostname_mapping.
  netutil::OverrideResolver::Mapping hostname_mapping;
  /// Defaults for requests given by URL: fetch(std::string url) sends a copy of this request with
  /// `url` set. A request given as an HTTPRequest is sent as it is. Mirrors the `defaults`
  /// dictionary of AsyncHTTPClient(defaults=...) and AsyncHTTPClient.configure(None, defaults=...).
  std::optional<HTTPRequest> defaults;
  /// Keep-alive (beyond Tornado, which closes every connection): idle connections kept per
  /// (scheme, host, port, TLS settings, proxy), to be reused by later requests. A connection goes
  /// back to the pool only after a complete response that allows it (HTTP/1.1 without
  /// `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`; a body delimited by length;
  /// the request fully sent); the oldest idle connection is closed when the cap is passed. A
  /// request on a reused connection that the server closed before answering anything is retried
  /// once on a fresh connection if that is safe: an idempotent method (RFC 9110 9.2.2) and no
  /// body_producer. 0: no reuse, every request says `Connection: close` (Tornado's behaviour).
  /// Unset: max_clients, so that every connection in use can go back to the pool (with fewer,
  /// responses that arrive together close connections the requests that follow would reuse).
  std::optional<std::size_t> max_idle_connections_per_host;
  /// Seconds an idle pooled connection is kept before it is closed.
  double idle_connection_timeout = 60.0;
};

/// A non-blocking HTTP client bound to an IOLoop. Requests beyond max_clients wait in a queue
/// (subject to their timeouts). Idle keep-alive connections are pooled for reuse (see
/// AsyncHTTPClientOptions::max_idle_connections_per_host). Hold it by the shared_ptr instance()
/// returns; use it on its loop's thread only, and close it (or let it go) before the loop is
/// destroyed: its connections and timers belong to the loop. Mirrors
/// tornado.httpclient.AsyncHTTPClient with SimpleAsyncHTTPClient. See docs/httpclient.md.
class AsyncHTTPClient : public std::enable_shared_from_this<AsyncHTTPClient> {
 public:
  /// The client of the current IOLoop: the same object as long as someone holds it and it was not
  /// closed. With `force_instance`, a new client of its own (then `options` apply; they are
  /// ignored when an existing shared client is returned). Mirrors AsyncHTTPClient(force_instance).
  static std::shared_ptr<AsyncHTTPClient> instance(bool force_instance = false, AsyncHTTPClientOptions options = {});

  ~AsyncHTTPClient();
  AsyncHTTPClient(const AsyncHTTPClient&) = delete;
  AsyncHTTPClient& operator=(const AsyncHTTPClient&) = delete;

  /// Sends `request` and returns a future for its response.
  /// @param raise_error  true: the future fails with HTTPClientError for a non-2xx response
  ///   (after redirects). false: such a response is returned with its `error` set. Either way a
  ///   request that got no response fails: HTTPTimeoutError, HTTPStreamClosedError, or the error
  ///   that stopped it (std::invalid_argument for a bad URL or a body on the wrong method,
  ///   netutil::SSLError for a failed TLS handshake, httputil::HTTPInputError for a malformed
  ///   response).
  /// @throws std::runtime_error if the client was closed. Mirrors AsyncHTTPClient.fetch.
  Future<HTTPResponse> fetch(HTTPRequest request, bool raise_error = true);
  /// fetch(request, raise_error) with a copy of options().defaults (or HTTPRequest()) for `url`.
  Future<HTTPResponse> fetch(std::string url, bool raise_error = true);

  /// Stops the client: no more fetches; the shared instance of the loop is forgotten; idle
  /// keep-alive connections are closed. Requests in flight go on (their connections are closed
  /// when they end). Mirrors AsyncHTTPClient.close.
  void close();

  /// Requests in flight, and waiting in the queue.
  std::size_t active_count() const noexcept { return active_; }
  std::size_t queued_count() const noexcept { return queue_.size(); }
  /// Idle keep-alive connections in the pool, all hosts together.
  std::size_t idle_connection_count() const noexcept;
  const AsyncHTTPClientOptions& options() const noexcept { return options_; }

  struct Connection;

 private:
  struct Pending;
  struct Pool;
  using Callback = std::function<void(HTTPResponse&&)>;
  AsyncHTTPClient(ioloop::IOLoop& io_loop, AsyncHTTPClientOptions options, bool shared);
  // fetch() of a request already on the heap.
  Future<HTTPResponse> fetch_shared(std::shared_ptr<HTTPRequest> request, bool raise_error);
  void fetch_impl(std::shared_ptr<HTTPRequest> request, std::shared_ptr<const HTTPRequest> original,
                  Callback callback);
  void process_queue();
  // Starts a request in a free slot.
  void start(std::shared_ptr<HTTPRequest> request, std::shared_ptr<const HTTPRequest> original, Callback callback);
  void on_queue_timeout(std::uint64_t key);
  void release_fetch();
  // Idle connections kept per key: max_idle_connections_per_host, or max_clients if unset.
  std::size_t idle_cap() const noexcept {
    return options_.max_idle_connections_per_host.value_or(options_.max_clients);
  }
  friend struct Connection;

  ioloop::IOLoop* io_loop_;
  AsyncHTTPClientOptions options_;
  bool shared_;
  bool closed_ = false;
  bool own_resolver_ = false;
  std::unique_ptr<tcpclient::TCPClient> tcp_client_;
  std::size_t active_ = 0;
  std::uint64_t next_key_ = 0;
  std::deque<std::uint64_t> queue_;
  std::map<std::uint64_t, std::unique_ptr<Pending>> waiting_;
  std::unique_ptr<Pool> pool_;
};

/// A blocking HTTP client: runs its own IOLoop for each fetch. For scripts and tests, not for use
/// inside a running IOLoop. Mirrors tornado.httpclient.HTTPClient.
class HTTPClient {
 public:
  explicit HTTPClient(AsyncHTTPClientOptions options = {});
  ~HTTPClient();
  HTTPClient(const HTTPClient&) = delete;
  HTTPClient& operator=(const HTTPClient&) = delete;

  /// Sends `request` and waits for the response; raise_error as AsyncHTTPClient::fetch.
  /// @throws whatever AsyncHTTPClient::fetch fails with. Mirrors HTTPClient.fetch.
  HTTPResponse fetch(HTTPRequest request, bool raise_error = true);
  HTTPResponse fetch(std::string url, bool raise_error = true);
  /// Closes the client and its loop. Mirrors HTTPClient.close.
  void close();

 private:
  std::unique_ptr<ioloop::IOLoop> io_loop_;
  std::shared_ptr<AsyncHTTPClient> async_client_;
  bool closed_ = false;
};

}  // namespace tornado::httpclient
