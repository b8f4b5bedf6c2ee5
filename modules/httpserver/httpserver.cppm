// tornado.httpserver: a non-blocking, single-threaded HTTP/1.x server. Mirrors tornado.httpserver.
module;
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>
export module tornado.httpserver;

export import tornado.tcpserver;
export import tornado.httputil;
export import tornado.http1connection;
import tornado.concurrent;

export namespace tornado::httpserver {

/// HTTPServer's options, with Tornado's names and defaults (keyword arguments of HTTPServer).
struct HTTPServerOptions {
  bool no_keep_alive = false;             ///< close after every response
  bool xheaders = false;                  ///< trust X-Real-Ip / X-Forwarded-For / X-Scheme / X-Forwarded-Proto
  std::optional<netutil::SSLContext> ssl_options;  ///< serve HTTPS with this server context
  std::string protocol;                   ///< force "http" or "https" (behind a TLS-terminating proxy)
  bool decompress_request = false;        ///< gunzip `Content-Encoding: gzip` request bodies
  std::size_t chunk_size = 0;             ///< read and delivery granularity in bytes (0: 64 KiB)
  std::size_t max_header_size = 0;        ///< bytes of start line plus headers (0: 64 KiB); past it, 431
  std::optional<double> idle_connection_timeout;  ///< seconds to wait for a request's headers (default 3600)
  std::optional<double> body_timeout;     ///< seconds to read a body (default: no limit)
  std::size_t max_body_size = 0;          ///< bytes (0: max_buffer_size); a declared larger body gets 413
  std::size_t max_buffer_size = 0;        ///< bytes buffered per connection (0: 100 MiB)
  std::vector<std::string> trusted_downstream;  ///< proxy IPs skipped in X-Forwarded-For
};

/// An HTTP server: accepts connections (TCPServer) and hands each request to `delegate` (an
/// Application, a router) or to a plain callback. Keep-alive, pipelining, limits and timeouts as
/// HTTPServerOptions say.
///
/// The server must outlive its connections: call stop() and then await close_all_connections()
/// (or close the IOLoop) before destroying it. Mirrors tornado.httpserver.HTTPServer.
class HTTPServer : public tcpserver::TCPServer, public httputil::HTTPServerConnectionDelegate {
 public:
  /// Serves requests through `delegate`, which must outlive the server.
  explicit HTTPServer(httputil::HTTPServerConnectionDelegate& delegate, HTTPServerOptions options = {});
  /// The legacy interface: `callback(request)` runs once a request (and its body) arrived, and
  /// answers through `request.connection` (write_headers, write, finish).
  using RequestCallback = std::function<void(httputil::HTTPServerRequest&)>;
  explicit HTTPServer(RequestCallback callback, HTTPServerOptions options = {});
  ~HTTPServer() override;

  /// Closes every open connection and waits for them to end (use after stop() to shut down).
  /// Mirrors HTTPServer.close_all_connections.
  Future<void> close_all_connections();
  /// The number of open connections.
  std::size_t connection_count() const noexcept { return connections_.size(); }
  const HTTPServerOptions& options() const noexcept { return options_; }

  Future<void> handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress address) override;
  std::unique_ptr<httputil::HTTPMessageDelegate> start_request(const void* server_conn,
                                                               httputil::HTTPConnection* request_conn) override;
  void on_close(const void* server_conn) override;

 private:
  httputil::HTTPServerConnectionDelegate* delegate_ = nullptr;
  RequestCallback callback_;
  HTTPServerOptions options_;
  http1connection::HTTP1ConnectionParameters conn_params_;
  std::set<http1connection::HTTP1ServerConnection*> connections_;
};

/// Rewrites `context` from proxy headers as Tornado's xheaders does: the client IP from X-Real-Ip,
/// or the last X-Forwarded-For hop not in `trusted_downstream`; the scheme from X-Scheme or
/// X-Forwarded-Proto (the last entry). Only valid IPs and "http"/"https" are taken.
/// Mirrors tornado.httpserver._HTTPRequestContext._apply_xheaders.
void apply_xheaders(httputil::RequestContext& context, const httputil::HTTPHeaders& headers,
                    const std::vector<std::string>& trusted_downstream);

}  // namespace tornado::httpserver
