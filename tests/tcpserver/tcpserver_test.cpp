// Tests of tornado.tcpserver: a port of Tornado's tornado/test/tcpserver_test.py, plus cases for
// listen, bind/start, Unix sockets, synchronous handler errors and what stop() leaves alone.
//
// Not ported, and why:
// - TestMultiprocess.test_bind_start, test_add_sockets, test_listen_multi_reuse_port: they fork
//   worker processes through tornado.process.fork_processes, which does not exist yet;
//   test_start_multiprocess_unavailable pins what start(n > 1) does until it does.
// - TestMultiprocess.test_listen_single: it checks, in a Python subprocess, that listen(0) works
//   and prints nothing to stderr; test_listen and test_bind_start cover listen and bind here.
#define BOOST_TEST_MODULE tcpserver
#include <tornado/testing.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

import tornado.tcpserver;
import tornado.iostream;
import tornado.netutil;
import tornado.gen;
import tornado.log;

using namespace tornado;
using iostream::IOStream;
using netutil::SocketAddress;
using tcpserver::TCPServer;
using tornado::testing::AsyncTestCase;
using tornado::testing::ExpectLog;

namespace {

// A client stream connecting to 127.0.0.1:port (Tornado's tests say "localhost": the same here).
std::unique_ptr<IOStream> client_stream(int family = AF_INET) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  return std::make_unique<IOStream>(fd);
}

SocketAddress local(int port) { return SocketAddress("127.0.0.1", static_cast<std::uint16_t>(port)); }

// A port nobody listens on: bound, then released. (Used where the server must choose the port
// itself, as listen() and bind() do.)
int released_port() {
  auto bound = tornado::testing::bind_unused_port();
  ::close(bound.fd);
  return bound.port;
}

// Lets the loop run until `condition()` holds (at most about 5 s). Tests use it so that no
// connection handler is left suspended when the test's IOLoop closes.
Future<void> wait_for(std::function<bool()> condition) {
  for (int i = 0; i < 500 && !condition(); ++i) co_await gen::sleep(0.01);
  BOOST_TEST(condition());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(TCPServerTest)

TORNADO_GEN_TEST(test_handle_stream_coroutine_logging, AsyncTestCase) {
  // handle_stream may be a coroutine and any exception in its Future will be logged.
  struct TestServer : TCPServer {
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      co_await stream->read_bytes(5);
      stream->close();
      throw std::runtime_error("1 / 0");
    }
  };
  auto [sock, port] = tornado::testing::bind_unused_port();
  TestServer server;
  server.add_socket(sock);
  auto client = client_stream();
  {
    ExpectLog expect(log::app_log(), "Exception in callback");
    co_await client->connect(local(port));
    co_await client->write("hello");
    co_await client->read_until_close();
    for (int i = 0; i < 100 && expect.matched() == 0; ++i) co_await gen::moment;
  }
  server.stop();
  client->close();
}

TORNADO_GEN_TEST(test_handle_stream_native_coroutine, AsyncTestCase) {
  // handle_stream may be a native coroutine.
  struct TestServer : TCPServer {
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      stream->write("data");
      stream->close();
      co_return;
    }
  };
  auto [sock, port] = tornado::testing::bind_unused_port();
  TestServer server;
  server.add_socket(sock);
  auto client = client_stream();
  co_await client->connect(local(port));
  auto result = co_await client->read_until_close();
  BOOST_TEST(result == "data");
  server.stop();
  client->close();
}

BOOST_FIXTURE_TEST_CASE(test_stop_twice, AsyncTestCase) {
  auto [sock, port] = tornado::testing::bind_unused_port();
  TCPServer server;
  server.add_socket(sock);
  server.stop();
  server.stop();
  BOOST_TEST(::fcntl(sock, F_GETFD) == -1);  // stop() closed the listening socket
}

TORNADO_GEN_TEST(test_stop_in_callback, AsyncTestCase) {
  // Issue #2069: calling server.stop() in a loop callback should not raise EBADF when the loop
  // handles other server connection requests in the same loop iteration.
  struct TestServer : TCPServer {
    int started = 0, finished = 0;
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      ++started;
      stop();
      co_await stream->read_until_close();
      ++finished;
    }
  };
  auto [sock, port] = tornado::testing::bind_unused_port();
  TestServer server;
  server.add_socket(sock);
  // An accept on the closed descriptor would be logged here (Python raised EBADF instead).
  ExpectLog accept_errors(log::app_log(), "accept failed", false);
  constexpr int N = 40;
  std::vector<std::unique_ptr<IOStream>> clients;
  std::vector<Future<void>> connects;
  for (int i = 0; i < N; ++i) {
    clients.push_back(client_stream());
    connects.push_back(clients.back()->connect(local(port)));
  }
  int connected = 0;
  for (auto& f : connects) {
    try {
      co_await f;
      ++connected;
    } catch (const iostream::StreamClosedError&) {
    }
  }
  BOOST_TEST(connected > 0, "all clients failed connecting");
  if (connected == N) {
    // Ideally we'd make the test deterministic, but we're testing for a race condition in
    // combination with the system's TCP stack; the check below still holds.
    BOOST_TEST_MESSAGE("every client connected: the race was not exercised this time");
  }
  for (auto& c : clients) c->close();
  co_await wait_for([&] { return server.finished == server.started; });
  BOOST_TEST(server.started >= 1);
  BOOST_TEST(accept_errors.matched() == 0u);
}

TORNADO_GEN_TEST(test_listen, AsyncTestCase) {
  struct EchoOnce : TCPServer {
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      auto line = co_await stream->read_until("\n");
      co_await stream->write(std::move(line));
    }
  };
  int port = released_port();
  EchoOnce server;
  server.listen(static_cast<std::uint16_t>(port), "127.0.0.1");
  auto client = client_stream();
  co_await client->connect(local(port));
  co_await client->write("ping\n");
  BOOST_TEST(co_await client->read_until_close() == "ping\n");
}

TORNADO_GEN_TEST(test_bind_start, AsyncTestCase) {
  struct Greeter : TCPServer {
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      co_await stream->write("hi");
    }
  };
  int port = released_port();
  Greeter server;
  server.bind(static_cast<std::uint16_t>(port), "127.0.0.1", AF_INET);
  server.start();
  BOOST_CHECK_THROW(server.start(), std::logic_error);  // start() twice
  auto client = client_stream();
  co_await client->connect(local(port));
  BOOST_TEST(co_await client->read_until_close() == "hi");
}

BOOST_FIXTURE_TEST_CASE(test_start_multiprocess_unavailable, AsyncTestCase) {
  // Until tornado.process exists, start(n != 1) refuses rather than serve in one process.
  TCPServer server;
  server.bind(0, "127.0.0.1");
  BOOST_CHECK_THROW(server.start(3), std::logic_error);
  BOOST_CHECK_THROW(server.start(0), std::logic_error);
  server.start(1);  // the refusals did not count as a start
}

TORNADO_GEN_TEST(test_handle_stream_gets_peer_address_and_sizes, AsyncTestCase) {
  struct Recorder : TCPServer {
    using TCPServer::TCPServer;
    SocketAddress peer;
    std::size_t max_buffer = 0, chunk = 0;
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress address) override {
      peer = address;
      max_buffer = stream->max_buffer_size();
      chunk = stream->read_chunk_size();
      co_await stream->write("ok");
    }
  };
  auto [sock, port] = tornado::testing::bind_unused_port();
  Recorder server(4096, 512);
  server.add_socket(sock);
  auto client = client_stream();
  co_await client->connect(local(port));
  auto mine = netutil::get_sock_name(client->fileno());
  BOOST_TEST(co_await client->read_until_close() == "ok");
  BOOST_TEST(server.peer.to_string() == mine.to_string());
  BOOST_TEST(server.max_buffer == 4096u);
  BOOST_TEST(server.chunk == 512u);
}

TORNADO_GEN_TEST(test_handle_stream_sync_exception, AsyncTestCase) {
  // A handler that throws before returning a future (not a coroutine) is logged as Tornado's
  // "Error in connection callback"; the server goes on accepting.
  struct Thrower : TCPServer {
    int calls = 0;
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      ++calls;
      throw std::runtime_error("handler failed");
    }
  };
  auto [sock, port] = tornado::testing::bind_unused_port();
  Thrower server;
  server.add_socket(sock);
  ExpectLog expect(log::app_log(), "Error in connection callback");
  for (int i = 0; i < 2; ++i) {
    auto client = client_stream();
    co_await client->connect(local(port));
    // The handler dropped the stream: the connection is closed.
    BOOST_TEST(co_await client->read_until_close() == "");
  }
  BOOST_TEST(server.calls == 2);
  BOOST_TEST(expect.matched() == 2u);
}

TORNADO_GEN_TEST(test_default_handle_stream, AsyncTestCase) {
  // TCPServer itself has no handler (Tornado raises NotImplementedError): logged, and closed.
  auto [sock, port] = tornado::testing::bind_unused_port();
  TCPServer server;
  server.add_socket(sock);
  ExpectLog expect(log::app_log(), "Error in connection callback");
  auto client = client_stream();
  co_await client->connect(local(port));
  BOOST_TEST(co_await client->read_until_close() == "");
}

TORNADO_GEN_TEST(test_stop_leaves_connections_open, AsyncTestCase) {
  struct Echo : TCPServer {
    bool done = false;
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
      try {
        for (;;) co_await stream->write(co_await stream->read_until("\n"));
      } catch (const iostream::StreamClosedError&) {
      }
      done = true;
    }
  };
  auto [sock, port] = tornado::testing::bind_unused_port();
  Echo server;
  server.add_socket(sock);
  auto client = client_stream();
  co_await client->connect(local(port));
  co_await client->write("one\n");
  BOOST_TEST(co_await client->read_until("\n") == "one\n");
  server.stop();
  // The accepted connection goes on...
  co_await client->write("two\n");
  BOOST_TEST(co_await client->read_until("\n") == "two\n");
  // ...but nobody listens any more.
  auto late = client_stream();
  BOOST_CHECK_THROW(co_await late->connect(local(port)), iostream::StreamClosedError);
  client->close();
  co_await wait_for([&] { return server.done; });
}

TORNADO_GEN_TEST(test_destructor_stops, AsyncTestCase) {
  auto [sock, port] = tornado::testing::bind_unused_port();
  {
    TCPServer server;
    server.add_socket(sock);
  }
  auto client = client_stream();
  BOOST_CHECK_THROW(co_await client->connect(local(port)), iostream::StreamClosedError);
}

TORNADO_GEN_TEST(test_unix_socket, AsyncTestCase) {
  struct Greeter : TCPServer {
    Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress address) override {
      co_await stream->write(address.family() == AF_UNIX ? "unix" : "other");
    }
  };
  char dir_template[] = "/tmp/tornado-tcpserver-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(dir_template) != nullptr);
  std::string path = std::string(dir_template) + "/s.sock";
  Greeter server;
  server.add_socket(netutil::bind_unix_socket(path));
  auto client = client_stream(AF_UNIX);
  co_await client->connect(SocketAddress::unix_path(path));
  BOOST_TEST(co_await client->read_until_close() == "unix");
  server.stop();
  ::unlink(path.c_str());
  ::rmdir(dir_template);
}

BOOST_AUTO_TEST_SUITE_END()
