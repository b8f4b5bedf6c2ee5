// tornado.netutil: sockets, addresses and name resolution. Mirrors tornado.netutil.
module;
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
export module tornado.netutil;

export import tornado.concurrent;
import tornado.ioloop;

export namespace tornado::netutil {

/// Address families, with the platform's values: AF_UNSPEC (both IPv4 and IPv6), AF_INET, AF_INET6,
/// AF_UNIX. Mirrors socket.AF_*.
int af_unspec() noexcept;
int af_inet() noexcept;
int af_inet6() noexcept;
int af_unix() noexcept;

/// A socket address: an IPv4 or IPv6 address with a port, or a Unix socket path. What Python
/// passes around as `(host, port)` tuples; here a value type holding the sockaddr bytes.
class SocketAddress {
 public:
  SocketAddress() noexcept = default;
  /// Parses a numeric IPv4 or IPv6 address (no name lookup) with a port.
  /// @throws std::invalid_argument if `ip` is not a valid address.
  SocketAddress(std::string_view ip, std::uint16_t port);
  /// A Unix domain socket address for `path`. @throws std::invalid_argument if too long.
  static SocketAddress unix_path(std::string_view path);
  /// Copies a `sockaddr` of `len` bytes (as filled by accept or getaddrinfo).
  static SocketAddress from_sockaddr(const void* sockaddr, std::size_t len);

  /// AF_INET, AF_INET6, AF_UNIX, or AF_UNSPEC (0) for an empty address.
  int family() const noexcept;
  /// The numeric host ("127.0.0.1", "::1"), or the path of a Unix socket.
  std::string host() const;
  /// The port (0 for a Unix socket).
  std::uint16_t port() const noexcept;
  /// "127.0.0.1:8888", "[::1]:8888", or the Unix path.
  std::string to_string() const;
  bool empty() const noexcept { return len_ == 0; }

  /// The raw `sockaddr` and its length, for system calls.
  const void* data() const noexcept { return storage_; }
  void* data() noexcept { return storage_; }
  std::size_t size() const noexcept { return len_; }
  void set_size(std::size_t len) noexcept { len_ = static_cast<std::uint32_t>(len); }
  static constexpr std::size_t capacity() noexcept { return sizeof(storage_); }

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

 private:
  alignas(8) unsigned char storage_[128] = {};
  std::uint32_t len_ = 0;
};

/// True if `ip` is a numeric IPv4 or IPv6 address. Mirrors tornado.netutil.is_valid_ip.
bool is_valid_ip(std::string_view ip) noexcept;

/// Creates listening sockets bound to `port` on `address` (every address getaddrinfo gives for it,
/// IPv4 and IPv6, when empty: all interfaces), non-blocking and close-on-exec, with SO_REUSEADDR
/// and, for IPv6, IPV6_V6ONLY. With port 0, every socket gets the same port (the first one the
/// kernel picked). The caller owns the returned descriptors (TCPServer::add_sockets takes them).
/// @param family  AF_UNSPEC (default: both), AF_INET or AF_INET6.
/// @param backlog  listen(2) backlog.
/// @param reuse_port  set SO_REUSEPORT so several processes can share the port.
/// @throws std::system_error if resolution, bind or listen fails.
/// Mirrors tornado.netutil.bind_sockets.
std::vector<int> bind_sockets(std::uint16_t port, std::string_view address = {}, int family = 0,
                              int backlog = 128, bool reuse_port = false);

/// Creates a listening Unix domain socket at `file`, removing a stale socket file first.
/// @param mode  permission bits for the socket file (0600 by default).
/// @throws std::system_error, or std::invalid_argument if `file` exists and is not a socket.
/// Mirrors tornado.netutil.bind_unix_socket.
int bind_unix_socket(const std::string& file, unsigned mode = 0600, int backlog = 128);

/// Accepts connections on listening socket `fd` as they arrive, on the current IOLoop, calling
/// `callback(connection_fd, address)` for each (the callback owns the new, non-blocking
/// descriptor). Accepts up to `backlog` connections per readiness event.
/// @returns a function that stops accepting (it does not close `fd`).
/// Mirrors tornado.netutil.add_accept_handler.
std::function<void()> add_accept_handler(int fd, std::function<void(int, SocketAddress)> callback,
                                         int backlog = 128);

/// Sets O_NONBLOCK on `fd`. @throws std::system_error.
void set_nonblocking(int fd);
/// Sets FD_CLOEXEC on `fd`. Mirrors tornado.netutil.set_close_exec (tornado.platform).
void set_close_exec(int fd);
/// The local address a socket is bound to. @throws std::system_error.
SocketAddress get_sock_name(int fd);

}  // namespace tornado::netutil
