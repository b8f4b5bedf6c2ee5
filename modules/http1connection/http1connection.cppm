// tornado.http1connection: the HTTP/1.x codec, for both servers and clients. Messages are parsed
// with Beast's parser fed in place from the IOStream's read buffer; keep-alive, pipelining,
// limits, timeouts and flow control are ours. Mirrors tornado.http1connection.
module;
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
export module tornado.http1connection;

export import tornado.httputil;
export import tornado.iostream;
import tornado.concurrent;

export namespace tornado::http1connection {

/// Settings of an HTTP/1.x connection. Mirrors tornado.http1connection.HTTP1ConnectionParameters.
struct HTTP1ConnectionParameters {
  bool no_keep_alive = false;             ///< close after each request
  std::size_t chunk_size = 64 * 1024;     ///< most bytes handed to data_received at once
  std::size_t max_header_size = 64 * 1024;  ///< start line plus headers; past it: 431 and close
  std::optional<double> header_timeout;   ///< seconds to wait for a message's headers
  std::size_t max_body_size = 0;          ///< 0: the stream's max_buffer_size (100 MiB)
  std::optional<double> body_timeout;     ///< seconds to wait for a whole body
  bool decompress = false;                ///< gunzip `Content-Encoding: gzip` bodies
};

/// One HTTP/1.x message exchange on a stream: a request and its response. The server makes one per
/// request; a client one per request it sends. Mirrors tornado.http1connection.HTTP1Connection.
class HTTP1Connection final : public httputil::HTTPConnection {
 public:
  /// @param stream  the connection; shared with whoever owns it (HTTP1ServerConnection, a client).
  /// @param is_client  true to send requests and read responses.
  HTTP1Connection(std::shared_ptr<iostream::IOStream> stream, bool is_client, HTTP1ConnectionParameters params = {},
                  httputil::RequestContext context = {});
  /// As above, reading `shared_context` (which must outlive this object; HTTP1ServerConnection's)
  /// instead of holding a copy: mutable_context() copies it on first use, so a rewrite still
  /// concerns this message only. Saves a copy per connection waiting for its next request.
  HTTP1Connection(std::shared_ptr<iostream::IOStream> stream, bool is_client, HTTP1ConnectionParameters params,
                  const httputil::RequestContext* shared_context);
  ~HTTP1Connection() override;
  HTTP1Connection(const HTTP1Connection&) = delete;
  HTTP1Connection& operator=(const HTTP1Connection&) = delete;

  /// Reads one message (a request on a server, a response on a client) and hands it to
  /// `delegate`, which must outlive the returned future. @returns true if the connection can
  /// carry another message (keep-alive), false if it was closed or detached.
  /// Mirrors HTTP1Connection.read_response.
  Future<bool> read_response(httputil::HTTPMessageDelegate& delegate);

  Future<void> write_headers(const httputil::StartLine& start_line, const httputil::HTTPHeaders& headers,
                             std::string_view chunk = {}) override;
  Future<void> write(std::string_view chunk) override;
  void finish() override;
  const httputil::RequestContext& context() const noexcept override {
    return own_context_ ? *own_context_ : *shared_context_;
  }
  /// The context, to rewrite from proxy headers (HTTPServer's xheaders) for this request only.
  /// @throws std::bad_alloc when it must copy a shared context.
  httputil::RequestContext& mutable_context();

  /// Calls `callback` if the connection closes while no message is being read (a client that
  /// hangs up before its response was written). Mirrors HTTP1Connection.set_close_callback.
  void set_close_callback(util::Callback callback) override;
  /// Closes the stream. Mirrors HTTP1Connection.close.
  void close();
  /// Takes the stream away from HTTP processing (for WebSockets), during headers_received.
  /// Mirrors HTTP1Connection.detach.
  std::shared_ptr<iostream::IOStream> detach();
  /// Overrides body_timeout for this message (seconds). Mirrors set_body_timeout.
  void set_body_timeout(double timeout);
  /// Overrides max_body_size for this message (bytes). Mirrors set_max_body_size.
  void set_max_body_size(std::size_t max_body_size);

  struct Impl;

 private:
  friend class HTTP1ServerConnection;
  class HeaderTimer;
  void init();

  std::shared_ptr<iostream::IOStream> stream_;
  bool is_client_;
  HTTP1ConnectionParameters params_;
  // The context: this message's own copy if it has one, else the server connection's.
  const httputil::RequestContext* shared_context_ = nullptr;
  std::unique_ptr<httputil::RequestContext> own_context_;
  // The per-message state, built in place rather than allocated: a server makes one
  // HTTP1Connection per request. Exactly Impl's size (the .cpp checks it): it sits in the frame of
  // the serving loop, which every idle connection keeps.
  static constexpr std::size_t kImplSize = 208;
  alignas(16) unsigned char impl_storage_[kImplSize];
  // The Impl built in impl_storage_ (a function, not a pointer member: 8 bytes less per request
  // object).
  Impl* impl() noexcept;
  // A server connection's timer for the header timeout, shared by its requests (null: a timer
  // per message, as a client's).
  HeaderTimer* header_timer_ = nullptr;
};

/// Serves HTTP/1.x requests on one connection: reads them one after the other (pipelined
/// requests in order), making an HTTP1Connection and a delegate for each.
/// Mirrors tornado.http1connection.HTTP1ServerConnection.
class HTTP1ServerConnection {
 public:
  HTTP1ServerConnection(std::shared_ptr<iostream::IOStream> stream, HTTP1ConnectionParameters params = {},
                        httputil::RequestContext context = {});
  ~HTTP1ServerConnection();
  HTTP1ServerConnection(const HTTP1ServerConnection&) = delete;
  HTTP1ServerConnection& operator=(const HTTP1ServerConnection&) = delete;

  /// Serves requests until the connection closes. `delegate` and this object must outlive the
  /// returned future. @returns a future that completes when the serving loop ended.
  /// Mirrors HTTP1ServerConnection.start_serving (whose future Tornado keeps internally).
  Future<void> start_serving(httputil::HTTPServerConnectionDelegate& delegate);
  /// Closes the connection and waits for the serving loop to end. Mirrors close.
  Future<void> close();

  const httputil::RequestContext& context() const noexcept { return context_; }
  iostream::IOStream& stream() const noexcept { return *stream_; }

 private:
  Future<void> server_request_loop(httputil::HTTPServerConnectionDelegate& delegate);
  std::shared_ptr<iostream::IOStream> stream_;
  HTTP1ConnectionParameters params_;
  httputil::RequestContext context_;
  std::optional<Future<void>> serving_;
};

/// Whether a request may be followed by another on its connection, by Tornado's rules (HTTP/1.1
/// unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` and a known length).
bool can_keep_alive(const httputil::RequestStartLine& start_line, const httputil::HTTPHeaders& headers,
                    bool no_keep_alive);

}  // namespace tornado::http1connection
