// tornado.netutil: sockets, addresses and name resolution. Mirrors tornado.netutil.
module;
#include <cstddef>
#include <cstdint>
#include <compare>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module tornado.netutil;

export import tornado.concurrent;
export import :ssl;
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

// ---------------------------------------------------------------------------------------------
// Name resolution

/// A name lookup failed: getaddrinfo returned an error. `code()` is the EAI_* value and `what()`
/// reads as Python's socket.gaierror does: "[Errno -2] Name or service not known", followed by
/// the host that was looked up. Mirrors socket.gaierror (the IOError Tornado's resolvers raise).
class ResolveError : public std::runtime_error {
 public:
  /// @param code  the EAI_* error getaddrinfo returned.
  /// @param message  the complete message (see resolve_error_message).
  ResolveError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The EAI_* error getaddrinfo returned (EAI_NONAME, EAI_AGAIN, ...).
  int code() const noexcept { return code_; }

 private:
  int code_;
};

/// One result of a name lookup: the address family (AF_INET, AF_INET6, AF_UNIX) and an address
/// to connect to. Mirrors the `(family, address)` pairs of Tornado's Resolver.resolve.
using ResolvedAddress = std::pair<int, SocketAddress>;

/// Asynchronous name resolution: turns a host name and port into the addresses to connect to.
/// Subclasses implement resolve(); TCPClient and the HTTP clients take one (shared, since several
/// clients may use one resolver). Mirrors tornado.netutil.Resolver.
class Resolver {
 public:
  virtual ~Resolver() = default;

  /// Resolves `host` (a name or a numeric IP address) and `port`.
  /// @param family  AF_UNSPEC (0, the default: IPv4 and IPv6), AF_INET or AF_INET6.
  /// @returns a future for the (family, address) pairs, in the order getaddrinfo gives them; it
  /// fails with ResolveError if the name cannot be resolved.
  /// Mirrors Resolver.resolve.
  virtual Future<std::vector<ResolvedAddress>> resolve(std::string host, std::uint16_t port,
                                                       int family = 0) = 0;
  /// Releases what the resolver holds. Does nothing by default. Mirrors Resolver.close.
  virtual void close() {}
};

/// The default resolver: getaddrinfo run on the current IOLoop's default executor
/// (IOLoop::run_in_executor), so that a slow lookup never blocks the loop. A numeric host
/// ("127.0.0.1", "::1") is resolved inline, without a thread, and the returned future is already
/// done; so is a lookup with `family` AF_UNIX, whose `host` is the socket's path.
/// Mirrors tornado.netutil.DefaultExecutorResolver.
class DefaultExecutorResolver : public Resolver {
 public:
  /// @throws nothing itself; a failed lookup fails the future with ResolveError.
  Future<std::vector<ResolvedAddress>> resolve(std::string host, std::uint16_t port,
                                               int family = 0) override;
};

/// Tornado 6.2's default resolver, which asks asyncio's getaddrinfo: here the same thing as
/// DefaultExecutorResolver (asyncio also runs getaddrinfo on the default executor).
/// Mirrors tornado.netutil.DefaultLoopResolver.
using DefaultLoopResolver = DefaultExecutorResolver;

/// A resolver that rewrites some lookups before passing them on to another resolver: for local
/// DNS changes in tests, or to send a host name to a Unix socket. The mapping's keys are a host,
/// a (host, port) or a (host, port, family); the most specific key that matches wins:
///
///     netutil::OverrideResolver resolver(std::make_shared<netutil::DefaultExecutorResolver>(), {
///         {"example.com", "127.0.1.1"},                                   // host to host
///         {{"login.example.com", 443}, {"localhost", 1443}},              // (host, port) to (host, port)
///         {{"login.example.com", 443, AF_INET6}, {"::1", 1443}},          // (host, port, family) too
///         {"myservice", netutil::OverrideResolver::Target::unix_socket("/tmp/my.sock")},
///     });
///
/// Mirrors tornado.netutil.OverrideResolver.
class OverrideResolver : public Resolver {
 public:
  /// What a lookup is matched against: a host, and optionally the port and the family.
  struct Key {
    std::string host;
    std::optional<std::uint16_t> port;  ///< unset: any port
    std::optional<int> family;          ///< unset: any family (set only together with port)
    Key(std::string host) : host(std::move(host)) {}  // NOLINT: implicit, as Python's dict keys
    Key(const char* host) : host(host) {}             // NOLINT
    /// @throws std::invalid_argument if `port` is not in [0, 65535].
    Key(std::string host, int port) : host(std::move(host)), port(checked_port(port)) {}
    /// @throws std::invalid_argument if `port` is not in [0, 65535].
    Key(std::string host, int port, int family)
        : host(std::move(host)), port(checked_port(port)), family(family) {}
    friend auto operator<=>(const Key&, const Key&) = default;
    friend bool operator==(const Key&, const Key&) = default;
  };
  /// Where a matched lookup goes: another host (name or numeric address), and optionally another
  /// port (unset: the port asked for) and family (unset: the family asked for).
  struct Target {
    std::string host;
    std::optional<std::uint16_t> port;
    std::optional<int> family;
    Target(std::string host) : host(std::move(host)) {}  // NOLINT: implicit, as Python's values
    Target(const char* host) : host(host) {}             // NOLINT
    /// @throws std::invalid_argument if `port` is not in [0, 65535].
    Target(std::string host, int port) : host(std::move(host)), port(checked_port(port)) {}
    /// The Unix domain socket at `path`: the lookup gives one AF_UNIX address.
    static Target unix_socket(std::string path);
  };
  using Mapping = std::map<Key, Target>;

  /// @param resolver  the resolver that does the actual lookups (after rewriting); closed by
  ///                  close(). Must not be null.
  /// @param mapping   the rewrites.
  /// @throws std::invalid_argument if `resolver` is null.
  OverrideResolver(std::shared_ptr<Resolver> resolver, Mapping mapping);

  /// Rewrites (host, port, family) by the most specific matching key, then asks the wrapped
  /// resolver. Mirrors OverrideResolver.resolve.
  Future<std::vector<ResolvedAddress>> resolve(std::string host, std::uint16_t port,
                                               int family = 0) override;
  /// Closes the wrapped resolver. Mirrors OverrideResolver.close.
  void close() override;

  const Mapping& mapping() const noexcept { return mapping_; }

 private:
  static std::uint16_t checked_port(int port);
  std::shared_ptr<Resolver> resolver_;
  Mapping mapping_;
};

}  // namespace tornado::netutil
