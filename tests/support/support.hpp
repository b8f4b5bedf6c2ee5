// Helpers that several test programs share: paths in tests/data, the test server's TLS context,
// shell commands run off the IOLoop, pairs of connected IOStreams, and an HTTPServer on an unused
// loopback port. Include it after <tornado/testing.hpp>:
//
//   #include "../support/support.hpp"
//
// Everything is in tornado::test_support. Not a port of anything in Tornado (its tests keep such
// helpers in tornado.testing and each test module).
#pragma once

#include <sys/socket.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
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
