// Helpers that several test programs share: paths in tests/data, the test server's TLS context,
// shell commands run off the IOLoop, pairs of connected IOStreams, loopback connections,
// capturing stderr, and an HTTPServer on an unused loopback port. Include it after <tornado/testing.hpp>:
//
//   #include "../support/support.hpp"
//
// Everything is in tornado::test_support. Not a port of anything in Tornado (its tests keep such
// helpers in tornado.testing and each test module).
#pragma once

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

import tornado.concurrent;
import tornado.httpserver;
import tornado.ioloop;
import tornado.iostream;
import tornado.netutil;
import tornado.testing;

namespace tornado::test_support {

/// The path of `name` in tests/data (TORNADO_TEST_DATA_DIR, set by tornado_add_test).
inline std::string data_file(std::string_view name) {
  return std::string(TORNADO_TEST_DATA_DIR) + "/" + std::string(name);
}

/// A server-side TLS context with tests/data/server.crt and server.key (a certificate for
/// localhost, signed by tests/data/ca.crt). Mirrors AsyncHTTPSTestCase.get_ssl_options.
inline netutil::SSLContext server_tls() {
  netutil::SSLContext ctx(true);
  ctx.load_cert_chain(data_file("server.crt"), data_file("server.key"));
  return ctx;
}

/// What a shell command printed on its standard output, and its status as pclose gives it (-1 if
/// it could not be started).
struct CommandResult {
  std::string output;
  int status = -1;
};

/// Runs `cmd` with /bin/sh on the IOLoop's executor, so that the loop keeps serving meanwhile
/// (the command may talk to a server of the test).
inline Future<CommandResult> run_shell(std::string cmd) {
  return IOLoop::current().run_in_executor(nullptr, [cmd = std::move(cmd)] {
    CommandResult r;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
      r.status = ::pclose(p);
    }
    return r;
  });
}

/// run_shell's standard output alone.
inline Future<std::string> run_command(std::string cmd) {
  auto r = co_await run_shell(std::move(cmd));
  co_return std::move(r.output);
}

/// A connected AF_UNIX stream socket pair; fails the test if the system refuses one.
inline std::pair<int, int> socket_pair() {
  int sv[2] = {-1, -1};
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  return {sv[0], sv[1]};
}

/// Two IOStreams connected to each other over socket_pair() (each owns its socket). Convertible
/// to a pair of std::shared_ptr.
inline std::pair<std::unique_ptr<iostream::IOStream>, std::unique_ptr<iostream::IOStream>> stream_pair() {
  auto [a, b] = socket_pair();
  return {std::make_unique<iostream::IOStream>(a), std::make_unique<iostream::IOStream>(b)};
}

/// A blocking TCP connection to 127.0.0.1:`port` (close-on-exec); the caller closes it.
/// @throws std::system_error if the socket cannot be made or the connection is refused.
inline int connect_blocking(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "connect");
  }
  return fd;
}

/// Redirects file descriptor 2 to a temporary file while alive (or until restore()); text()
/// reads what was written, also after restore().
class CaptureStderr {
 public:
  CaptureStderr() {
    std::fflush(stderr);
    char name[] = "/tmp/tornado_test_stderr_XXXXXX";
    fd_ = ::mkstemp(name);
    BOOST_REQUIRE(fd_ >= 0);
    ::unlink(name);
    saved_ = ::dup(2);
    ::dup2(fd_, 2);
  }
  ~CaptureStderr() {
    restore();
    ::close(fd_);
  }
  CaptureStderr(const CaptureStderr&) = delete;
  CaptureStderr& operator=(const CaptureStderr&) = delete;
  /// Gives file descriptor 2 back (once).
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  /// What was written to stderr while captured.
  std::string text() {
    std::fflush(stderr);
    std::string out;
    char buf[4096];
    ssize_t n;
    for (off_t off = 0; (n = ::pread(fd_, buf, sizeof buf, off)) > 0; off += n) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
};

/// An IOStream connected to 127.0.0.1:`port` (a raw client connection to the test's server).
/// @throws what IOStream::connect throws (StreamClosedError if refused).
inline Future<std::unique_ptr<iostream::IOStream>> connect_local(int port) {
  auto stream = std::make_unique<iostream::IOStream>(::socket(AF_INET, SOCK_STREAM, 0));
  co_await stream->connect(netutil::SocketAddress("127.0.0.1", static_cast<std::uint16_t>(port)));
  co_return stream;
}

/// Starts `server` on an unused port of 127.0.0.1 and returns that port.
inline int listen_on_unused_port(httpserver::HTTPServer& server) {
  auto sock = testing::bind_unused_port();
  server.add_socket(sock.fd);
  return sock.port;
}

/// Stops `server` listening and closes its connections, running `loop` (at most 5 s) until they
/// are closed: what a fixture's destructor does.
inline void shut_down(httpserver::HTTPServer& server, IOLoop& loop) {
  server.stop();
  loop.run_sync([&server] { return server.close_all_connections(); }, 5.0);
}

}  // namespace tornado::test_support
