// tornado.tcpserver: a non-blocking, single-threaded TCP server. Mirrors tornado.tcpserver.
module;
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>
export module tornado.tcpserver;

export import tornado.concurrent;
export import tornado.netutil;
export import tornado.iostream;
import tornado.ioloop;

export namespace tornado::tcpserver {

/// A non-blocking, single-threaded TCP server: accepts connections on the current IOLoop and hands
/// each one, as an IOStream, to handle_stream(). Subclass it and override handle_stream:
///
///     struct EchoServer : tcpserver::TCPServer {
///       Future<void> handle_stream(std::unique_ptr<iostream::IOStream> stream,
///                                  netutil::SocketAddress address) override {
///         for (;;) co_await stream->write(co_await stream->read_until("\n"));
///       }
///     };
///     EchoServer server;
///     server.listen(8888);
///     IOLoop::current().start();
///
/// Three ways to start it, as in Tornado: listen() (bind and start in one call); add_sockets()
/// with sockets from netutil::bind_sockets (the way to share sockets between processes); or
/// bind() then start().
///
/// The server must be destroyed (or stopped) before its IOLoop. Destroying it stops it.
/// Mirrors tornado.tcpserver.TCPServer.
///
/// With a TLS context (Tornado's `ssl_options`), every accepted connection is an
/// iostream::SSLIOStream whose handshake runs as soon as it is accepted; handle_stream can use the
/// stream at once (reads and writes wait for the handshake) or await wait_for_handshake().
class TCPServer {
 public:
  /// @param max_buffer_size  max_buffer_size of each connection's IOStream, in bytes (0: the
  ///                         IOStream default, 100 MiB).
  /// @param read_chunk_size  read_chunk_size of each connection's IOStream, in bytes (0: default).
  explicit TCPServer(std::size_t max_buffer_size = 0, std::size_t read_chunk_size = 0);
  /// A TLS server. @param ssl_options  a server-side context with a certificate loaded (see
  /// netutil::ssl_options_to_context). @throws std::invalid_argument if it is a client context or
  /// has no certificate (Tornado refuses ssl_options without a certfile).
  explicit TCPServer(std::optional<netutil::SSLContext> ssl_options, std::size_t max_buffer_size = 0,
                     std::size_t read_chunk_size = 0);
  /// Stops the server (closing its listening sockets and the sockets bound but not started).
  virtual ~TCPServer();
  TCPServer(const TCPServer&) = delete;
  TCPServer& operator=(const TCPServer&) = delete;

  /// Starts accepting connections on `port` of `address`, at once (no start() needed; the IOLoop
  /// must run). May be called several times to listen on several ports.
  /// @param port     0: a port the kernel picks (the same one for every address bound).
  /// @param address  a numeric address or a host name (every address it resolves to is bound);
  ///                 empty: every interface.
  /// @param family   AF_UNSPEC (0: IPv4 and IPv6), AF_INET or AF_INET6.
  /// @param backlog  listen(2) backlog.
  /// @param reuse_port  set SO_REUSEPORT, so several processes can listen on the port.
  /// @throws std::system_error if the sockets cannot be bound.
  /// Mirrors TCPServer.listen (without `flags`).
  void listen(std::uint16_t port, std::string_view address = {}, int family = 0, int backlog = 128,
              bool reuse_port = false);
  /// Starts accepting connections on listening sockets made by netutil::bind_sockets (or
  /// bind_unix_socket): the server takes ownership of the descriptors and closes them in stop().
  /// Mirrors TCPServer.add_sockets.
  void add_sockets(const std::vector<int>& sockets);
  /// add_sockets for one socket. Mirrors TCPServer.add_socket.
  void add_socket(int socket);
  /// Binds sockets to `port` of `address` (same arguments as listen) without accepting yet:
  /// start() does that. Called after start(), it starts accepting at once.
  /// @throws std::system_error if the sockets cannot be bound.
  /// Mirrors TCPServer.bind (deprecated in Tornado 6.2 in favour of listen and add_sockets).
  void bind(std::uint16_t port, std::string_view address = {}, int family = 0, int backlog = 128,
            bool reuse_port = false);
  /// Starts accepting connections on the sockets bound with bind().
  /// @param num_processes  1: serve in this process. Anything else forks that many worker
  ///                       processes (<= 0: one per CPU) with process::fork_processes; each
  ///                       worker returns from start() and serves, while the parent never
  ///                       returns (it supervises the workers, and exits once they all exited
  ///                       cleanly). No IOLoop may exist yet when forking.
  /// @param max_restarts   passed to fork_processes (unset: its default, 100).
  /// @throws std::logic_error if called twice; what fork_processes throws.
  /// Mirrors TCPServer.start.
  void start(int num_processes = 1, std::optional<int> max_restarts = std::nullopt);
  /// Stops accepting: closes the listening sockets. Connections already accepted go on. Calling
  /// it again does nothing. Mirrors TCPServer.stop.
  void stop();

  /// Called with each new connection, on the IOLoop, with the peer's address. Override it (as a
  /// coroutine, typically). Accepting goes on while it runs. An exception thrown by a handler
  /// that is not a coroutine is logged on app_log as "Error in connection callback"; one that
  /// fails the returned future is logged as "Exception in callback" (a cancelled future is not
  /// logged), as Tornado does. This default closes the connection and throws std::logic_error
  /// (Tornado's NotImplementedError).
  /// Mirrors TCPServer.handle_stream.
  virtual Future<void> handle_stream(std::unique_ptr<iostream::IOStream> stream, netutil::SocketAddress address);

  /// The IOStream read buffer limit given to the constructor, in bytes (0: default).
  std::size_t max_buffer_size() const noexcept { return max_buffer_size_; }
  /// The IOStream read chunk size given to the constructor, in bytes (0: default).
  std::size_t read_chunk_size() const noexcept { return read_chunk_size_; }

 private:
  void handle_connection(int connection, netutil::SocketAddress address);
  void close_pending() noexcept;

  std::optional<netutil::SSLContext> ssl_options_;
  std::size_t max_buffer_size_;
  std::size_t read_chunk_size_;
  // Listening descriptor -> the function that stops accepting on it.
  std::map<int, std::function<void()>> handlers_;
  std::vector<int> pending_sockets_;
  bool started_ = false;
};

}  // namespace tornado::tcpserver
