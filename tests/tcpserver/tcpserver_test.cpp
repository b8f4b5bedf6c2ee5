// Tests of tornado.tcpserver: a port of Tornado's tornado/test/tcpserver_test.py, plus cases for
// listen, bind/start, Unix sockets, synchronous handler errors and what stop() leaves alone.
//
// TestMultiprocess runs each scenario in a forked child (Tornado runs a Python subprocess): the
// child forks its workers with fork_processes, each worker writes its task id into a pipe, and
// the test checks that the ids 0, 1 and 2 arrived and that the supervising child exited with
// status 0. Tornado's tests also check that nothing was written to stderr; here the children share
// the test's stderr, so that part is not checked.
#define BOOST_TEST_MODULE tcpserver
#include <tornado/testing.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

import tornado.tcpserver;
import tornado.iostream;
import tornado.netutil;
import tornado.gen;
import tornado.log;
import tornado.process;
import tornado.ioloop;

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

namespace {

struct ChildResult {
  int status = -1;  // as waitpid gives it
  std::string out;  // what the children wrote into the pipe
};

struct Subproc {
  pid_t pid = -1;
  int out = -1;  // the read end of the children's pipe
};

// Runs `body(out_fd)` in a forked child, in a process group of its own, whose children inherit
// `out_fd` too. Mirrors the start of TestMultiprocess.run_subproc.
Subproc start_subproc(const std::function<void(int)>& body) {
  int p[2];
  BOOST_REQUIRE(::pipe(p) == 0);
  // Output buffered now would be written again by the child at exit.
  std::fflush(nullptr);
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setpgid(0, 0);
    ::close(p[0]);
    int code = 0;
    try {
      body(p[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child failed: %s\n", e.what());
      code = 3;
    } catch (...) {
      code = 3;
    }
    // Workers end here; so would the supervisor if fork_processes returned to it (it must not).
    ::_exit(code);
  }
  ::setpgid(pid, pid);
  ::close(p[1]);
  return {pid, p[0]};
}

// Collects what the child and its children write until they all closed the pipe, and waits for
// the child. Gives up after `timeout` seconds, killing the whole process group.
ChildResult finish_subproc(Subproc sp, double timeout = 30) {
  ChildResult result;
  auto deadline = ioloop::monotonic_time() + timeout;
  for (;;) {
    double left = deadline - ioloop::monotonic_time();
    if (left <= 0) break;
    pollfd pfd{sp.out, POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left * 1000) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[256];
    ssize_t got = ::read(sp.out, buf, sizeof buf);
    if (got <= 0) break;  // every writer closed the pipe
    result.out.append(buf, static_cast<std::size_t>(got));
  }
  ::close(sp.out);
  for (;;) {
    pid_t r = ::waitpid(sp.pid, &result.status, WNOHANG);
    if (r == sp.pid) break;
    if (ioloop::monotonic_time() > deadline) {
      ::kill(-sp.pid, SIGKILL);
      ::waitpid(sp.pid, &result.status, 0);
      BOOST_ERROR("the child process did not finish in time");
      break;
    }
    ::usleep(10000);
  }
  return result;
}

ChildResult run_subproc(const std::function<void(int)>& body) { return finish_subproc(start_subproc(body)); }

// Called in the children: no Boost.Test assertion there (a failed one would go on running the
// test program in the child); a failure shows as a missing id.
void write_task_id(int out) {
  auto id = process::task_id();
  std::string s = id ? std::to_string(*id) : "?";
  if (::write(out, s.data(), s.size()) != static_cast<ssize_t>(s.size())) ::_exit(4);
}

void check_012(const ChildResult& r) {
  BOOST_TEST(WIFEXITED(r.status));
  BOOST_TEST(WEXITSTATUS(r.status) == 0);
  std::string sorted = r.out;
  std::sort(sorted.begin(), sorted.end());
  BOOST_TEST(sorted == "012");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(TestMultiprocess)

BOOST_AUTO_TEST_CASE(test_listen_single) {
  // As a sanity check, run the single-process version through this test harness too.
  auto r = run_subproc([](int out) {
    {
      ioloop::IOLoop loop;
      TCPServer server;
      server.listen(0, "127.0.0.1");
    }
    if (::write(out, "012", 3) != 3) ::_exit(4);
  });
  check_012(r);
}

BOOST_AUTO_TEST_CASE(test_bind_start) {
  auto r = run_subproc([](int out) {
    TCPServer server;
    server.bind(0, "127.0.0.1");
    server.start(3);
    IOLoop::current().run_sync([] {});
    write_task_id(out);
  });
  check_012(r);
}

BOOST_AUTO_TEST_CASE(test_add_sockets) {
  auto r = run_subproc([](int out) {
    auto sockets = netutil::bind_sockets(0, "127.0.0.1");
    process::fork_processes(3);
    IOLoop::current().run_sync([&]() -> Future<void> {
      TCPServer server;
      server.add_sockets(sockets);
      co_return;
    });
    write_task_id(out);
  });
  check_012(r);
}

BOOST_AUTO_TEST_CASE(test_listen_multi_reuse_port) {
  auto r = run_subproc([](int out) {
    // Pick an unused port which we will be able to bind to multiple times.
    auto socks = netutil::bind_sockets(0, "127.0.0.1", AF_INET, 128, true);
    auto port = netutil::get_sock_name(socks.at(0)).port();
    process::fork_processes(3);
    IOLoop::current().run_sync([&]() -> Future<void> {
      TCPServer server;
      server.listen(port, "127.0.0.1", AF_INET, 128, true);
      co_return;
    });
    write_task_id(out);
  });
  check_012(r);
}

BOOST_AUTO_TEST_CASE(test_workers_accept_connections) {
  // Beyond Tornado's checks: the workers that start(3) made serve the shared socket. Each worker
  // answers one connection with its task id and exits, so three connections get three ids.
  auto [probe, port] = tornado::testing::bind_unused_port();
  ::close(probe);
  auto sp = start_subproc([port = port](int out) {
    struct OneShot : TCPServer {
      Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
        stop();  // one connection per worker
        co_await stream->write(std::to_string(process::task_id().value_or(-1)));
        IOLoop::current().stop();
      }
    };
    OneShot server;
    server.bind(static_cast<std::uint16_t>(port), "127.0.0.1");
    server.start(3);
    IOLoop::current().start();
    write_task_id(out);
  });
  // bind() listens before the fork, so these connections queue until a worker accepts them.
  std::string answers;
  for (int i = 0; i < 3; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto addr = local(port);
    bool connected = false;
    for (int attempt = 0; attempt < 100 && !connected; ++attempt) {
      connected = ::connect(fd, static_cast<const sockaddr*>(addr.data()), addr.size()) == 0;
      if (!connected) ::usleep(20000);  // the child may not have bound the port yet
    }
    BOOST_TEST(connected);
    char buf[16];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) answers.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  }
  auto r = finish_subproc(sp);
  std::sort(answers.begin(), answers.end());
  BOOST_TEST(answers == "012");
  check_012(r);
}

BOOST_AUTO_TEST_SUITE_END()
