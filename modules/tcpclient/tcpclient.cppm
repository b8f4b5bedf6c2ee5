// tornado.tcpclient: a non-blocking TCP connection factory, with "Happy Eyeballs" between IPv4
// and IPv6. Mirrors tornado.tcpclient.
module;
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
export module tornado.tcpclient;

export import tornado.concurrent;
export import tornado.netutil;
export import tornado.iostream;
export import tornado.ioloop;

export namespace tornado::tcpclient {

namespace detail {

/// Seconds the first family has to itself before the second family is tried as well.
/// Mirrors tornado.tcpclient._INITIAL_CONNECT_TIMEOUT.
inline constexpr double kInitialConnectTimeout = 0.3;

/// The "Happy Eyeballs" connection algorithm of RFC 6555, as Tornado implements it: the
/// addresses are split by family; the first family's addresses are tried one after the other,
/// and the other family's too, in parallel, once `timeout` passed or the first family had a
/// failure. One attempt per family is in flight at a time. The first connection that succeeds
/// wins; the attempts still in flight are closed, and so is a late one that succeeds anyway.
///
/// A template over the stream and address types so that its state machine can be tested with
/// fake streams and addresses (ConnectorTest), driving the two timers by hand through
/// on_timeout() and on_connect_timeout(). `Stream` needs a `close()` method. The connector must
/// be owned by a std::shared_ptr (std::make_shared): its timers and callbacks hold weak
/// references, and a connector that goes away closes (destroys) every stream it still owns.
/// Not for applications: TCPClient is the public face. Mirrors tornado.tcpclient._Connector.
template <class Stream, class Address = netutil::SocketAddress>
class Connector : public std::enable_shared_from_this<Connector<Stream, Address>> {
 public:
  using AddrInfo = std::vector<std::pair<int, Address>>;
  /// What the connector's future gives: the winning family, address and stream.
  struct Result {
    int af;
    Address address;
    std::unique_ptr<Stream> stream;
  };
  /// Makes a stream and starts connecting it to `address`; returns the stream and a future that
  /// completes when connected (or fails). May throw (a source address that cannot be bound):
  /// the whole connection then fails with that exception at once, as Tornado's does.
  using ConnectFn = util::UniqueFunction<std::pair<std::unique_ptr<Stream>, Future<void>>(int af, const Address& address)>;

  /// @param addrinfo  the (family, address) pairs to try, in the resolver's order.
  /// @param connect   starts one attempt.
  Connector(AddrInfo addrinfo, ConnectFn connect)
      : io_loop_(&ioloop::IOLoop::current()), connect_(std::move(connect)), remaining_(addrinfo.size()) {
    auto [primary, secondary] = split(addrinfo);
    addrs_[0] = std::move(primary);
    addrs_[1] = std::move(secondary);
  }
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

  /// Splits `addrinfo` by family: the first list holds the first entry and every other entry of
  /// its family, the second list all the others, each in the given order.
  /// Mirrors _Connector.split.
  static std::pair<AddrInfo, AddrInfo> split(const AddrInfo& addrinfo) {
    AddrInfo primary, secondary;
    if (addrinfo.empty()) return {primary, secondary};
    int primary_af = addrinfo.front().first;
    for (const auto& entry : addrinfo) (entry.first == primary_af ? primary : secondary).push_back(entry);
    return {std::move(primary), std::move(secondary)};
  }

  /// Starts the first attempt.
  /// @param timeout  seconds before the second family is tried too.
  /// @param connect_timeout  when the whole connection gives up, failing with TimeoutError and
  ///                         closing every attempt (unset: never).
  /// @returns the future of the winning connection; it fails with the last attempt's error when
  /// every address failed (std::runtime_error("connection failed") if there were none).
  /// Mirrors _Connector.start.
  Future<Result> start(double timeout = kInitialConnectTimeout,
                       std::optional<ioloop::Deadline> connect_timeout = std::nullopt) {
    // The timer first: an attempt that fails at once (inline) then starts the other family at
    // once too, as a failure that takes a while does.
    set_timeout(timeout);
    if (connect_timeout) set_connect_timeout(*connect_timeout);
    try_connect(0);
    return future_;
  }

  /// The first-family timer fired: try the second family too (if not done yet).
  /// Mirrors _Connector.on_timeout.
  void on_timeout() {
    // Called by hand (tests, or a failed first attempt) the timer must not fire again later.
    if (timeout_) io_loop_->remove_timeout(*timeout_);
    timeout_.reset();
    if (!future_.done()) try_connect(1);
  }
  /// The whole connection's deadline passed: fail with TimeoutError and close every attempt.
  /// Mirrors _Connector.on_connect_timeout.
  void on_connect_timeout() {
    if (!future_.done()) future_.set_exception(TimeoutError());
    close_streams();
  }

  /// The streams the connector still owns: every attempt made but the winner.
  const std::vector<std::unique_ptr<Stream>>& streams() const noexcept { return streams_; }
  /// The future start() returned.
  const Future<Result>& future() const noexcept { return future_; }

 private:
  void try_connect(int queue) {
    auto& addrs = addrs_[queue];
    if (next_[queue] >= addrs.size()) {
      // This family is exhausted, but the other may still be trying: fail only when every
      // attempt has finished.
      if (remaining_ == 0 && !future_.done()) {
        if (last_error_) future_.set_exception(last_error_);
        else future_.set_exception(std::runtime_error("connection failed"));
        clear_timeouts();
      }
      return;
    }
    int af = addrs[next_[queue]].first;
    Address address = addrs[next_[queue]].second;
    ++next_[queue];
    std::pair<std::unique_ptr<Stream>, Future<void>> attempt;
    try {
      attempt = connect_(af, address);
    } catch (...) {
      if (!future_.done()) future_.set_exception(std::current_exception());
      clear_timeouts();
      close_streams();
      return;
    }
    Stream* stream = attempt.first.get();
    streams_.push_back(std::move(attempt.first));
    attempt.second.add_done_callback(
        [weak = this->weak_from_this(), queue, af, address, stream](const Future<void>& f) {
          if (auto self = weak.lock()) {
            self->on_connect_done(queue, af, address, stream, f);
          } else {
            // The connector is gone (and the stream with it): nobody needs this outcome.
            f.state()->mark_retrieved();
          }
        });
  }

  void on_connect_done(int queue, int af, const Address& address, Stream* stream, const Future<void>& f) {
    --remaining_;
    std::exception_ptr error;
    if (f.cancelled()) error = std::make_exception_ptr(CancelledError());
    else error = f.exception();
    if (error) {
      if (future_.done()) return;
      // Remember the failure (the last one is what the connection fails with), try the next
      // address of this family, and start the other family now rather than after the timer.
      last_error_ = error;
      try_connect(queue);
      if (timeout_) on_timeout();
      return;
    }
    clear_timeouts();
    if (future_.done()) {
      stream->close();  // a late arrival: drop it
      return;
    }
    auto it = std::find_if(streams_.begin(), streams_.end(), [&](const auto& p) { return p.get() == stream; });
    std::unique_ptr<Stream> winner;
    if (it != streams_.end()) {
      winner = std::move(*it);
      streams_.erase(it);
    }
    future_.set_result(Result{af, address, std::move(winner)});
    close_streams();
  }

  void set_timeout(double timeout) {
    timeout_ = io_loop_->add_timeout(io_loop_->time() + timeout, [weak = this->weak_from_this()] {
      if (auto self = weak.lock()) self->on_timeout();
    });
  }
  void set_connect_timeout(ioloop::Deadline deadline) {
    connect_timeout_ = io_loop_->add_timeout(deadline, [weak = this->weak_from_this()] {
      if (auto self = weak.lock()) self->on_connect_timeout();
    });
  }
  void clear_timeouts() {
    if (timeout_) io_loop_->remove_timeout(*timeout_);
    if (connect_timeout_) io_loop_->remove_timeout(*connect_timeout_);
    timeout_.reset();
    connect_timeout_.reset();
  }
  void close_streams() {
    for (auto& s : streams_) s->close();
  }

  ioloop::IOLoop* io_loop_;
  ConnectFn connect_;
  Future<Result> future_;
  std::optional<ioloop::TimeoutHandle> timeout_;
  std::optional<ioloop::TimeoutHandle> connect_timeout_;
  std::exception_ptr last_error_;
  std::size_t remaining_;
  AddrInfo addrs_[2];        // primary, secondary
  std::size_t next_[2] = {0, 0};
  std::vector<std::unique_ptr<Stream>> streams_;
};

}  // namespace detail

/// A non-blocking TCP connection factory: resolves a host, connects with Happy Eyeballs (RFC
/// 6555) between its IPv4 and IPv6 addresses, and gives an IOStream:
///
///     auto stream = co_await tcpclient::TCPClient().connect("example.com", 80);
///
/// The client keeps no state between connections; a connection in progress does not need the
/// client to stay alive (it holds its own reference to the resolver).
///
/// With a TLS context (Tornado's `ssl_options`), connect() also runs the TLS handshake (within the
/// same `timeout`) and gives an iostream::SSLIOStream. Mirrors tornado.tcpclient.TCPClient.
class TCPClient {
 public:
  /// @param resolver  the resolver to use (shared: one resolver may serve several clients);
  ///                  null: a DefaultExecutorResolver of the client's own.
  explicit TCPClient(std::shared_ptr<netutil::Resolver> resolver = nullptr);
  ~TCPClient();
  TCPClient(const TCPClient&) = delete;
  TCPClient& operator=(const TCPClient&) = delete;

  /// Closes the resolver if the client made it itself. Mirrors TCPClient.close.
  void close();

  /// Connects to `host` (a name or a numeric address) on `port`.
  /// @param af        AF_UNSPEC (0: any), AF_INET or AF_INET6: the families to resolve `host` to
  ///                  (AF_UNIX, through an OverrideResolver, for a Unix socket).
  /// @param max_buffer_size  the stream's read buffer limit in bytes (0: the IOStream default).
  /// @param source_ip    local address to bind before connecting (empty: any).
  /// @param source_port  local port to bind before connecting (0: any); with no source_ip, the
  ///                     loopback address of the family is bound (127.0.0.1 or ::1), as Tornado.
  /// @param timeout   seconds the whole connection (resolving included) may take; unset: no limit.
  /// @returns a future for the connected stream. It fails with netutil::ResolveError if the host
  /// cannot be resolved, iostream::StreamClosedError (whose real_error says why, e.g.
  /// ECONNREFUSED) if no address accepts the connection, std::system_error if source_ip or
  /// source_port cannot be bound, or TimeoutError when `timeout` passes.
  /// Mirrors TCPClient.connect (without ssl_options; see the class comment).
  Future<std::unique_ptr<iostream::IOStream>> connect(std::string host, std::uint16_t port, int af = 0,
                                                      std::size_t max_buffer_size = 0,
                                                      std::string source_ip = {}, std::uint16_t source_port = 0,
                                                      std::optional<double> timeout = std::nullopt);

  /// Connects as the overload above, then runs a TLS handshake with `ssl_options` (a client
  /// context: the server's certificate is checked against `host` when check_hostname is on).
  /// @returns a future for the connected iostream::SSLIOStream; it also fails with
  /// netutil::SSLError / SSLCertVerificationError if the handshake fails. `timeout` covers the
  /// handshake too. Mirrors TCPClient.connect(..., ssl_options=...).
  Future<std::unique_ptr<iostream::IOStream>> connect(std::string host, std::uint16_t port,
                                                      netutil::SSLContext ssl_options, int af = 0,
                                                      std::size_t max_buffer_size = 0,
                                                      std::string source_ip = {}, std::uint16_t source_port = 0,
                                                      std::optional<double> timeout = std::nullopt);

  /// The resolver in use.
  const std::shared_ptr<netutil::Resolver>& resolver() const noexcept { return resolver_; }

 private:
  std::shared_ptr<netutil::Resolver> resolver_;
  bool own_resolver_;
};

}  // namespace tornado::tcpclient
