module;
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>
module tornado.tcpclient;

import tornado.gen;
import tornado.ioloop;
import tornado.iostream;
import tornado.netutil;

namespace tornado::tcpclient {

namespace {

using iostream::IOStream;
using netutil::SocketAddress;

// One connection attempt: a new socket (bound to the source address if one is asked for) and its
// non-blocking connect. Always plain TCP; TLS, if any, starts once a connection won.
// Mirrors TCPClient._create_stream.
std::pair<std::unique_ptr<IOStream>, Future<void>> create_stream(std::size_t max_buffer_size, int af,
                                                                 const SocketAddress& address,
                                                                 const std::string& source_ip,
                                                                 std::uint16_t source_port) {
  std::string bind_ip = source_ip;
  if (source_port && bind_ip.empty()) {
    // A source port without a source address: bind the loopback address of the family, as
    // Tornado does.
    bind_ip = af == netutil::af_inet6() ? "::1" : "127.0.0.1";
  }
  int fd = ::socket(af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  if (!bind_ip.empty() && af != netutil::af_unix()) {
    try {
      SocketAddress local(bind_ip, source_port);
      if (::bind(fd, static_cast<const sockaddr*>(local.data()), local.size()) < 0) {
        throw std::system_error(errno, std::generic_category(), "bind " + local.to_string());
      }
    } catch (...) {
      // Fail loudly if the source address cannot be used.
      ::close(fd);
      throw;
    }
  }
  auto stream = std::make_unique<IOStream>(fd, max_buffer_size);
  auto connected = stream->connect(address);
  return {std::move(stream), std::move(connected)};
}

}  // namespace

TCPClient::TCPClient(std::shared_ptr<netutil::Resolver> resolver)
    : resolver_(std::move(resolver)), own_resolver_(!resolver_) {
  if (own_resolver_) resolver_ = std::make_shared<netutil::DefaultExecutorResolver>();
}

TCPClient::~TCPClient() = default;

void TCPClient::close() {
  if (own_resolver_) resolver_->close();
}

Future<std::unique_ptr<IOStream>> TCPClient::connect(std::string host, std::uint16_t port, int af,
                                                     std::size_t max_buffer_size, std::string source_ip,
                                                     std::uint16_t source_port, std::optional<double> timeout) {
  // Everything the connection needs is copied into this frame before the first suspension, so
  // `co_await TCPClient().connect(...)` on a temporary client is safe.
  std::shared_ptr<netutil::Resolver> resolver = resolver_;
  ioloop::IOLoop& loop = ioloop::IOLoop::current();
  std::optional<double> deadline;
  if (timeout) deadline = loop.time() + *timeout;

  std::vector<netutil::ResolvedAddress> addrinfo;
  if (deadline) addrinfo = co_await gen::with_timeout(*deadline, resolver->resolve(host, port, af));
  else addrinfo = co_await resolver->resolve(host, port, af);

  using Connector = detail::Connector<IOStream>;
  auto connector = std::make_shared<Connector>(
      std::move(addrinfo),
      [max_buffer_size, source_ip = std::move(source_ip), source_port](int family, const SocketAddress& address) {
        return create_stream(max_buffer_size, family, address, source_ip, source_port);
      });
  std::optional<ioloop::Deadline> connect_deadline;
  if (deadline) connect_deadline = ioloop::Deadline(*deadline);
  auto result = co_await connector->start(detail::kInitialConnectTimeout, connect_deadline);
  // Better performance would cache the winning (af, address) for the next connection to this
  // host (RFC 6555 section 4.2); Tornado leaves that to do as well.
  co_return std::move(result.stream);
}

Future<std::unique_ptr<IOStream>> TCPClient::connect(std::string host, std::uint16_t port,
                                                     netutil::SSLContext ssl_options, int af,
                                                     std::size_t max_buffer_size, std::string source_ip,
                                                     std::uint16_t source_port, std::optional<double> timeout) {
  ioloop::IOLoop& loop = ioloop::IOLoop::current();
  std::optional<double> deadline;
  if (timeout) deadline = loop.time() + *timeout;
  auto plain = co_await connect(host, port, af, max_buffer_size, std::move(source_ip), source_port, timeout);
  // The socket moves into a TLS stream (as Tornado's start_tls); the handshake shares the deadline.
  std::size_t mbs = plain->max_buffer_size(), rcs = plain->read_chunk_size();
  int fd = plain->detach_fd();
  auto tls = std::make_unique<iostream::SSLIOStream>(fd, std::move(ssl_options), false, host, mbs, rcs);
  if (deadline) {
    co_await gen::with_timeout<iostream::StreamClosedError, netutil::SSLError>(*deadline, tls->wait_for_handshake());
  } else {
    co_await tls->wait_for_handshake();
  }
  co_return std::unique_ptr<IOStream>(std::move(tls));
}

}  // namespace tornado::tcpclient
