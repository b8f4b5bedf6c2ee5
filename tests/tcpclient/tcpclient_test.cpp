// Tests of tornado.tcpclient: a port of Tornado's tornado/test/tcpclient_test.py (TCPClientTest,
// TestConnectorSplit, ConnectorTest), plus Happy Eyeballs with real sockets, resolver failures,
// OverrideResolver and Unix sockets, and connect timeouts on a connection that hangs.
//
// Skipped at run time, as in Tornado: the cases that need "localhost" to resolve to IPv6
// (test_connect_ipv6_*, test_connect_unspec_ipv6) where /etc/hosts maps it to 127.0.0.1 only
// (test_connect_ipv6_loopback covers IPv6 with "::1" then), and test_source_port_fail when
// running as root (root may bind port 1).
#define BOOST_TEST_MODULE tcpclient
#include <tornado/testing.hpp>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

import tornado.tcpclient;
import tornado.tcpserver;
import tornado.iostream;
import tornado.netutil;
import tornado.gen;

using namespace tornado;
using iostream::IOStream;
using netutil::ResolvedAddress;
using netutil::SocketAddress;
using tcpclient::TCPClient;
using tornado::testing::AsyncTestCase;
namespace utf = boost::unit_test;

namespace {

// A server that keeps every accepted stream and hands them out in order (Tornado's test uses a
// Queue for that).
class TestTCPServer : public tcpserver::TCPServer {
 public:
  explicit TestTCPServer(int family, const std::string& address = "localhost") {
    auto sockets = netutil::bind_sockets(0, address, family);
    port = netutil::get_sock_name(sockets[0]).port();
    add_sockets(sockets);
  }

  Future<void> handle_stream(std::unique_ptr<IOStream> stream, SocketAddress) override {
    IOStream* s = stream.get();
    streams.push_back(std::move(stream));
    if (waiter_) {
      auto w = std::move(*waiter_);
      waiter_.reset();
      w.set_result(s);
    } else {
      ready_.push_back(s);
    }
    co_return;
  }

  /// The next accepted stream (Queue.get).
  Future<IOStream*> get() {
    if (!ready_.empty()) {
      IOStream* s = ready_.front();
      ready_.pop_front();
      return Future<IOStream*>::ready(std::move(s));
    }
    waiter_.emplace();
    return *waiter_;
  }

  void stop_all() {
    stop();
    for (auto& s : streams) s->close();
  }

  std::uint16_t port = 0;
  std::vector<std::unique_ptr<IOStream>> streams;

 private:
  std::deque<IOStream*> ready_;
  std::optional<Future<IOStream*>> waiter_;
};

bool localhost_resolves_to_ipv6() {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo("localhost", "80", &hints, &res) != 0) return false;
  bool v6 = false;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) v6 = v6 || ai->ai_family == AF_INET6;
  ::freeaddrinfo(res);
  return v6;
}

bool have_ipv6_loopback() {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

boost::test_tools::assertion_result skip_if_localhost_v4(utf::test_unit_id) {
  boost::test_tools::assertion_result r(localhost_resolves_to_ipv6());
  r.message() << "localhost does not resolve to ipv6";
  return r;
}
boost::test_tools::assertion_result skip_if_no_ipv6(utf::test_unit_id) {
  boost::test_tools::assertion_result r(have_ipv6_loopback());
  r.message() << "no IPv6 loopback";
  return r;
}
boost::test_tools::assertion_result skip_if_root(utf::test_unit_id) {
  boost::test_tools::assertion_result r(::geteuid() != 0);
  r.message() << "running as root";
  return r;
}

// A local port that refuses every connection: a connected client socket holds it, so nothing
// else binds it while the test runs, and nothing listens on it. Mirrors tornado.test.util.
// refusing_port. Close the returned descriptor when done.
std::pair<int, int> refusing_port(const std::string& address = "127.0.0.1") {
  auto [server, port] = tornado::testing::bind_unused_port(false, address);
  bool v6 = address.find(':') != std::string::npos;
  int client = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(client >= 0);
  auto target = SocketAddress(address, static_cast<std::uint16_t>(port));
  BOOST_REQUIRE(::connect(client, static_cast<const sockaddr*>(target.data()), target.size()) == 0);
  ::fcntl(server, F_SETFL, ::fcntl(server, F_GETFL) & ~O_NONBLOCK);
  int conn = ::accept(server, nullptr, nullptr);
  BOOST_REQUIRE(conn >= 0);
  ::close(conn);
  ::close(server);
  return {client, netutil::get_sock_name(client).port()};
}

// A listening socket whose accept queue is full and never drained: a connect to it hangs (the
// kernel drops the SYNs), which is how a slow or blackholed address looks, on loopback.
struct HangingPort {
  int listener = -1;
  int filler = -1;
  int port = 0;
  explicit HangingPort(const std::string& address = "127.0.0.1") {
    auto bound = tornado::testing::bind_unused_port(false, address);
    listener = bound.fd;
    port = bound.port;
    ::listen(listener, 0);  // room for one connection, which the filler takes
    bool v6 = address.find(':') != std::string::npos;
    filler = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto target = SocketAddress(address, static_cast<std::uint16_t>(port));
    BOOST_REQUIRE(::connect(filler, static_cast<const sockaddr*>(target.data()), target.size()) == 0);
  }
  ~HangingPort() {
    ::close(filler);
    ::close(listener);
  }
};

// Answers every lookup with a fixed list.
struct FixedResolver : netutil::Resolver {
  std::vector<ResolvedAddress> answer;
  explicit FixedResolver(std::vector<ResolvedAddress> a) : answer(std::move(a)) {}
  Future<std::vector<ResolvedAddress>> resolve(std::string, std::uint16_t, int) override {
    return Future<std::vector<ResolvedAddress>>::ready(std::vector<ResolvedAddress>(answer));
  }
};


}  // namespace

struct TCPClientTest : AsyncTestCase {
  std::unique_ptr<TestTCPServer> server;
  TCPClient client;

  ~TCPClientTest() override {
    client.close();
    stop_server();
  }

  std::uint16_t start_server(int family, const std::string& address = "localhost") {
    server = std::make_unique<TestTCPServer>(family, address);
    return server->port;
  }
  void stop_server() {
    if (server) {
      server->stop_all();
      server.reset();
    }
  }

  Future<void> do_test_connect_coro(int family, std::string host, std::string source_ip,
                                    std::uint16_t source_port, std::string server_address) {
    auto port = start_server(family, server_address);
    auto stream = co_await client.connect(host, port, 0, 0, source_ip, source_port);
    auto* server_stream = co_await server->get();
    co_await stream->write("hello");
    auto data = co_await server_stream->read_bytes(5);
    BOOST_TEST(data == "hello");
    stream->close();
  }
  void do_test_connect(int family, const std::string& host, const std::string& source_ip = "",
                       std::uint16_t source_port = 0, const std::string& server_address = "localhost") {
    run_gen_test([&] { return do_test_connect_coro(family, host, source_ip, source_port, server_address); });
  }
};

BOOST_AUTO_TEST_SUITE(TCPClientTests)

BOOST_FIXTURE_TEST_CASE(test_connect_ipv4_ipv4, TCPClientTest) { do_test_connect(AF_INET, "127.0.0.1"); }

BOOST_FIXTURE_TEST_CASE(test_connect_ipv4_dual, TCPClientTest) { do_test_connect(AF_INET, "localhost"); }

BOOST_FIXTURE_TEST_CASE(test_connect_ipv6_ipv6, TCPClientTest,
                        *utf::precondition(skip_if_no_ipv6) * utf::precondition(skip_if_localhost_v4)) {
  do_test_connect(AF_INET6, "::1");
}

BOOST_FIXTURE_TEST_CASE(test_connect_ipv6_dual, TCPClientTest,
                        *utf::precondition(skip_if_no_ipv6) * utf::precondition(skip_if_localhost_v4)) {
  do_test_connect(AF_INET6, "localhost");
}

BOOST_FIXTURE_TEST_CASE(test_connect_ipv6_loopback, TCPClientTest, *utf::precondition(skip_if_no_ipv6)) {
  // test_connect_ipv6_ipv6 with the server on "::1" rather than "localhost", so that IPv6 is
  // exercised where localhost is IPv4 only.
  do_test_connect(AF_INET6, "::1", "", 0, "::1");
}

BOOST_FIXTURE_TEST_CASE(test_connect_unspec_ipv4, TCPClientTest) { do_test_connect(AF_UNSPEC, "127.0.0.1"); }

BOOST_FIXTURE_TEST_CASE(test_connect_unspec_ipv6, TCPClientTest,
                        *utf::precondition(skip_if_no_ipv6) * utf::precondition(skip_if_localhost_v4)) {
  do_test_connect(AF_UNSPEC, "::1");
}

BOOST_FIXTURE_TEST_CASE(test_connect_unspec_dual, TCPClientTest) { do_test_connect(AF_UNSPEC, "localhost"); }

TORNADO_GEN_TEST(test_refused_ipv4, TCPClientTest) {
  auto [holder, port] = refusing_port();
  bool refused = false;
  try {
    co_await client.connect("127.0.0.1", static_cast<std::uint16_t>(port));
  } catch (const iostream::StreamClosedError& e) {
    refused = true;
    // The cause is kept: ECONNREFUSED.
    BOOST_REQUIRE(e.real_error);
    try {
      std::rethrow_exception(e.real_error);
    } catch (const std::system_error& se) {
      BOOST_TEST(se.code().value() == ECONNREFUSED);
    }
  }
  BOOST_TEST(refused);
  ::close(holder);
}

BOOST_FIXTURE_TEST_CASE(test_source_ip_fail, TCPClientTest) {
  // Fail when trying to use the source IP Address '8.8.8.8'.
  BOOST_CHECK_THROW(do_test_connect(AF_INET, "127.0.0.1", "8.8.8.8"), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(test_source_ip_success, TCPClientTest) {
  // Success when trying to use the source IP Address '127.0.0.1'.
  do_test_connect(AF_INET, "127.0.0.1", "127.0.0.1");
}

BOOST_FIXTURE_TEST_CASE(test_source_port_fail, TCPClientTest, *utf::precondition(skip_if_root)) {
  // Fail when trying to use source port 1.
  BOOST_CHECK_THROW(do_test_connect(AF_INET, "127.0.0.1", "", 1), std::system_error);
}

TORNADO_GEN_TEST(test_source_port_success, TCPClientTest) {
  // A source port is bound on the loopback address when no source IP is given, as in Tornado.
  auto port = start_server(AF_INET);
  auto [probe, source_port] = tornado::testing::bind_unused_port();
  ::close(probe);
  auto stream = co_await client.connect("127.0.0.1", port, 0, 0, "", static_cast<std::uint16_t>(source_port));
  auto mine = netutil::get_sock_name(stream->fileno());
  BOOST_TEST(mine.port() == source_port);
  BOOST_TEST(mine.host() == "127.0.0.1");
}

TORNADO_GEN_TEST(test_connect_timeout, TCPClientTest) {
  struct TimeoutResolver : netutil::Resolver {
    Future<std::vector<ResolvedAddress>> resolve(std::string, std::uint16_t, int) override {
      return {};  // never completes
    }
  };
  BOOST_CHECK_THROW(co_await TCPClient(std::make_shared<TimeoutResolver>()).connect("1.2.3.4", 12345, 0, 0, "", 0, 0.05),
                    TimeoutError);
}

TORNADO_GEN_TEST(test_connect_timeout_while_connecting, TCPClientTest) {
  // The timeout covers the connection itself, not only the lookup: a connection that hangs
  // fails with TimeoutError, and its stream is closed.
  HangingPort hanging;
  double start = io_loop().time();
  BOOST_CHECK_THROW(co_await client.connect("127.0.0.1", static_cast<std::uint16_t>(hanging.port), 0, 0, "", 0, 0.2),
                    TimeoutError);
  BOOST_TEST(io_loop().time() - start >= 0.19);
}

TORNADO_GEN_TEST(test_resolve_failure, TCPClientTest) {
  BOOST_CHECK_THROW(co_await client.connect("nonexistent.invalid", 80), netutil::ResolveError);
}

TORNADO_GEN_TEST(test_override_resolver, TCPClientTest) {
  auto port = start_server(AF_INET);
  TCPClient overridden(std::make_shared<netutil::OverrideResolver>(
      std::make_shared<netutil::DefaultExecutorResolver>(),
      netutil::OverrideResolver::Mapping{{"service.test", "127.0.0.1"}}));
  auto stream = co_await overridden.connect("service.test", port);
  auto* server_stream = co_await server->get();
  co_await stream->write("hi");
  BOOST_TEST(co_await server_stream->read_bytes(2) == "hi");
}

TORNADO_GEN_TEST(test_unix_socket_through_override_resolver, TCPClientTest) {
  char dir_template[] = "/tmp/tornado-tcpclient-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(dir_template) != nullptr);
  std::string path = std::string(dir_template) + "/s.sock";
  TestTCPServer unix_server(AF_INET, "127.0.0.1");
  unix_server.add_socket(netutil::bind_unix_socket(path));
  TCPClient unix_client(std::make_shared<netutil::OverrideResolver>(
      std::make_shared<netutil::DefaultExecutorResolver>(),
      netutil::OverrideResolver::Mapping{{"backend", netutil::OverrideResolver::Target::unix_socket(path)}}));
  auto stream = co_await unix_client.connect("backend", 80);
  auto* server_stream = co_await unix_server.get();
  co_await stream->write("over unix");
  BOOST_TEST(co_await server_stream->read_bytes(9) == "over unix");
  BOOST_TEST(netutil::get_sock_name(stream->fileno()).family() == AF_UNIX);
  unix_server.stop_all();
  ::unlink(path.c_str());
  ::rmdir(dir_template);
}

TORNADO_GEN_TEST(test_connect_on_temporary_client, TCPClientTest) {
  // The connection does not need the client to outlive the call (Tornado's demos write
  // `TCPClient().connect(...)`).
  auto port = start_server(AF_INET);
  auto pending = TCPClient().connect("localhost", port);
  auto stream = co_await pending;
  BOOST_TEST(!stream->closed());
}

TORNADO_GEN_TEST(test_max_buffer_size, TCPClientTest) {
  auto port = start_server(AF_INET);
  auto stream = co_await client.connect("127.0.0.1", port, 0, 12345);
  BOOST_TEST(stream->max_buffer_size() == 12345u);
}

TORNADO_GEN_TEST(test_close_closes_own_resolver_only, AsyncTestCase) {
  struct CountingResolver : netutil::DefaultExecutorResolver {
    int closes = 0;
    void close() override { ++closes; }
  };
  auto given = std::make_shared<CountingResolver>();
  TCPClient with_given(given);
  with_given.close();
  BOOST_TEST(given->closes == 0);
  BOOST_TEST(with_given.resolver() == given);
  TCPClient with_own;
  BOOST_TEST(dynamic_cast<netutil::DefaultExecutorResolver*>(with_own.resolver().get()) != nullptr);
  co_return;
}

// Happy Eyeballs with real sockets: the first family's address refuses, the other family's is
// tried at once and wins.
TORNADO_GEN_TEST(test_happy_eyeballs_primary_refused, TCPClientTest) {
  if (!have_ipv6_loopback()) {
    BOOST_TEST_MESSAGE("no IPv6 loopback: skipped");
    co_return;
  }
  auto port = start_server(AF_INET, "127.0.0.1");
  auto [holder, refused] = refusing_port("::1");
  TCPClient eyeballs(std::make_shared<FixedResolver>(std::vector<ResolvedAddress>{
      {AF_INET6, SocketAddress("::1", static_cast<std::uint16_t>(refused))},
      {AF_INET, SocketAddress("127.0.0.1", port)},
  }));
  // (That a failure starts the other family at once, without waiting for the 0.3 s timer, is
  // checked without clocks by ConnectorTest.test_two_families_immediate_failure.)
  auto stream = co_await eyeballs.connect("dual.test", port);
  BOOST_TEST(netutil::get_sock_name(stream->fileno()).family() == AF_INET);
  ::close(holder);
}

// ...and the first family's address hangs: the other family starts after 0.3 s and wins; the
// hanging attempt is closed.
TORNADO_GEN_TEST(test_happy_eyeballs_primary_hangs, TCPClientTest) {
  if (!have_ipv6_loopback()) {
    BOOST_TEST_MESSAGE("no IPv6 loopback: skipped");
    co_return;
  }
  auto port = start_server(AF_INET, "127.0.0.1");
  HangingPort hanging("::1");
  TCPClient eyeballs(std::make_shared<FixedResolver>(std::vector<ResolvedAddress>{
      {AF_INET6, SocketAddress("::1", static_cast<std::uint16_t>(hanging.port))},
      {AF_INET, SocketAddress("127.0.0.1", port)},
  }));
  double start = io_loop().time();
  auto stream = co_await eyeballs.connect("dual.test", port);
  BOOST_TEST(netutil::get_sock_name(stream->fileno()).family() == AF_INET);
  BOOST_TEST(io_loop().time() - start >= 0.29);
}

TORNADO_GEN_TEST(test_all_addresses_refused, TCPClientTest) {
  auto [h1, p1] = refusing_port();
  auto [h2, p2] = refusing_port();
  TCPClient c(std::make_shared<FixedResolver>(std::vector<ResolvedAddress>{
      {AF_INET, SocketAddress("127.0.0.1", static_cast<std::uint16_t>(p1))},
      {AF_INET, SocketAddress("127.0.0.1", static_cast<std::uint16_t>(p2))},
  }));
  BOOST_CHECK_THROW(co_await c.connect("x", 1), iostream::StreamClosedError);
  TCPClient none(std::make_shared<FixedResolver>(std::vector<ResolvedAddress>{}));
  BOOST_CHECK_THROW(co_await none.connect("x", 1), std::runtime_error);
  ::close(h1);
  ::close(h2);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// The connector's state machine, with fake streams and addresses.

namespace {
// Fake address families for testing. Used in place of AF_INET and AF_INET6 because some
// installations do not have AF_INET6.
constexpr int AF1 = 1, AF2 = 2;

struct FakeStream {
  bool closed = false;
  void close() { closed = true; }
};

using FakeConnector = tcpclient::detail::Connector<FakeStream, std::string>;
using AddrInfo = FakeConnector::AddrInfo;
using Key = std::pair<int, std::string>;

// What the fakes fail with: Tornado's tests use IOError().
std::system_error io_error() { return std::system_error(EIO, std::generic_category(), "fake connect"); }
}  // namespace

BOOST_AUTO_TEST_SUITE(TestConnectorSplit)

BOOST_AUTO_TEST_CASE(test_one_family) {
  // These addresses aren't in the right format, but split doesn't care.
  auto [primary, secondary] = FakeConnector::split({{AF1, "a"}, {AF1, "b"}});
  BOOST_TEST((primary == AddrInfo{{AF1, "a"}, {AF1, "b"}}));
  BOOST_TEST(secondary.empty());
}

BOOST_AUTO_TEST_CASE(test_mixed) {
  auto [primary, secondary] = FakeConnector::split({{AF1, "a"}, {AF2, "b"}, {AF1, "c"}, {AF2, "d"}});
  BOOST_TEST((primary == AddrInfo{{AF1, "a"}, {AF1, "c"}}));
  BOOST_TEST((secondary == AddrInfo{{AF2, "b"}, {AF2, "d"}}));
}

BOOST_AUTO_TEST_SUITE_END()

struct ConnectorTest : AsyncTestCase {
  std::map<Key, Future<void>> connect_futures;
  std::map<std::string, FakeStream*> streams;
  AddrInfo addrinfo{{AF1, "a"}, {AF1, "b"}, {AF2, "c"}, {AF2, "d"}};
  std::shared_ptr<FakeConnector> conn;
  std::optional<Future<FakeConnector::Result>> future;

  ~ConnectorTest() override {
    // Unless explicitly checked (and popped) in the test, we shouldn't be closing any streams.
    for (auto& [addr, stream] : streams) BOOST_TEST(!stream->closed, "stream " << addr << " was closed");
  }

  std::pair<std::unique_ptr<FakeStream>, Future<void>> create_stream(int af, const std::string& addr) {
    auto stream = std::make_unique<FakeStream>();
    streams[addr] = stream.get();
    Future<void> f;
    connect_futures[{af, addr}] = f;
    return {std::move(stream), f};
  }

  void assert_pending(std::vector<Key> keys) {
    std::vector<Key> pending;
    for (auto& [k, f] : connect_futures) pending.push_back(k);
    std::sort(keys.begin(), keys.end());
    BOOST_TEST((pending == keys));
  }

  void resolve_connect(int af, const std::string& addr, bool success) {
    auto it = connect_futures.find({af, addr});
    BOOST_REQUIRE(it != connect_futures.end());
    auto f = it->second;
    connect_futures.erase(it);
    if (success) {
      f.set_result();
    } else {
      streams.erase(addr);
      f.set_exception(io_error());
    }
    // Run the loop to allow callbacks to be run.
    io_loop().add_callback([this] { stop(); });
    wait();
  }

  void assert_connector_streams_closed() {
    for (auto& s : conn->streams()) BOOST_TEST(s->closed);
  }

  void start_connect(AddrInfo info) {
    conn = std::make_shared<FakeConnector>(
        std::move(info), [this](int af, const std::string& addr) { return create_stream(af, addr); });
    // Give it a huge timeout; we'll trigger timeouts manually.
    future = conn->start(3600, io_loop().time() + 3600);
  }

  // Runs the loop in short slices until `condition()` holds (at most about 5 s).
  void run_until(const std::function<bool()>& condition) {
    for (int i = 0; i < 500 && !condition(); ++i) {
      io_loop().call_later(0.01, [this] { stop(); });
      wait();
    }
    BOOST_TEST(condition());
  }

  FakeStream* pop_stream(const std::string& addr) {
    auto it = streams.find(addr);
    BOOST_REQUIRE(it != streams.end());
    FakeStream* s = it->second;
    streams.erase(it);
    return s;
  }
  void pop_future(int af, const std::string& addr) { BOOST_REQUIRE(connect_futures.erase({af, addr}) == 1u); }

  void assert_result(int af, const std::string& addr) {
    BOOST_REQUIRE(future->done());
    auto& r = future->result();
    BOOST_TEST(r.af == af);
    BOOST_TEST(r.address == addr);
    BOOST_TEST(r.stream.get() == streams.at(addr));
  }
};

BOOST_AUTO_TEST_SUITE(ConnectorTests)

BOOST_FIXTURE_TEST_CASE(test_immediate_success, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", true);
  assert_result(AF1, "a");
}

BOOST_FIXTURE_TEST_CASE(test_immediate_failure, ConnectorTest) {
  // Fail with just one address.
  start_connect({{AF1, "a"}});
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  BOOST_CHECK_THROW(future->result(), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(test_one_family_second_try, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}});
  resolve_connect(AF1, "b", true);
  assert_result(AF1, "b");
}

BOOST_FIXTURE_TEST_CASE(test_one_family_second_try_failure, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}});
  resolve_connect(AF1, "b", false);
  BOOST_CHECK_THROW(future->result(), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(test_one_family_second_try_timeout, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  // trigger the timeout while the first lookup is pending; nothing happens.
  conn->on_timeout();
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}});
  resolve_connect(AF1, "b", true);
  assert_result(AF1, "b");
}

BOOST_FIXTURE_TEST_CASE(test_two_families_immediate_failure, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}, {AF2, "c"}});
  resolve_connect(AF1, "b", false);
  resolve_connect(AF2, "c", true);
  assert_result(AF2, "c");
}

BOOST_FIXTURE_TEST_CASE(test_two_families_timeout, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  conn->on_timeout();
  assert_pending({{AF1, "a"}, {AF2, "c"}});
  resolve_connect(AF2, "c", true);
  assert_result(AF2, "c");
  // resolving 'a' after the connection has completed doesn't start 'b'
  resolve_connect(AF1, "a", false);
  assert_pending({});
}

BOOST_FIXTURE_TEST_CASE(test_success_after_timeout, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  conn->on_timeout();
  assert_pending({{AF1, "a"}, {AF2, "c"}});
  resolve_connect(AF1, "a", true);
  assert_result(AF1, "a");
  // resolving 'c' after completion closes the connection.
  resolve_connect(AF2, "c", true);
  BOOST_TEST(pop_stream("c")->closed);
}

BOOST_FIXTURE_TEST_CASE(test_all_fail, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  conn->on_timeout();
  assert_pending({{AF1, "a"}, {AF2, "c"}});
  resolve_connect(AF2, "c", false);
  assert_pending({{AF1, "a"}, {AF2, "d"}});
  resolve_connect(AF2, "d", false);
  // one queue is now empty
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}});
  BOOST_TEST(!future->done());
  resolve_connect(AF1, "b", false);
  BOOST_CHECK_THROW(future->result(), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(test_one_family_timeout_after_connect_timeout, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  conn->on_connect_timeout();
  // the connector will close all streams on connect timeout, we should explicitly pop the
  // connect_future.
  pop_future(AF1, "a");
  BOOST_TEST(pop_stream("a")->closed);
  conn->on_timeout();
  // if the future is set with TimeoutError, we will not iterate next possible address.
  assert_pending({});
  BOOST_TEST(conn->streams().size() == 1u);
  assert_connector_streams_closed();
  BOOST_CHECK_THROW(future->result(), TimeoutError);
}

BOOST_FIXTURE_TEST_CASE(test_one_family_success_before_connect_timeout, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", true);
  conn->on_connect_timeout();
  assert_pending({});
  BOOST_TEST(streams["a"]->closed == false);
  // success stream will be pop
  BOOST_TEST(conn->streams().size() == 0u);
  // streams in connector should be closed after connect timeout
  assert_connector_streams_closed();
  assert_result(AF1, "a");
}

BOOST_FIXTURE_TEST_CASE(test_one_family_second_try_after_connect_timeout, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}});
  conn->on_connect_timeout();
  pop_future(AF1, "b");
  BOOST_TEST(pop_stream("b")->closed);
  assert_pending({});
  BOOST_TEST(conn->streams().size() == 2u);
  assert_connector_streams_closed();
  BOOST_CHECK_THROW(future->result(), TimeoutError);
}

BOOST_FIXTURE_TEST_CASE(test_one_family_second_try_failure_before_connect_timeout, ConnectorTest) {
  start_connect({{AF1, "a"}, {AF1, "b"}});
  assert_pending({{AF1, "a"}});
  resolve_connect(AF1, "a", false);
  assert_pending({{AF1, "b"}});
  resolve_connect(AF1, "b", false);
  conn->on_connect_timeout();
  assert_pending({});
  BOOST_TEST(conn->streams().size() == 2u);
  assert_connector_streams_closed();
  BOOST_CHECK_THROW(future->result(), std::system_error);
}

BOOST_FIXTURE_TEST_CASE(test_two_family_timeout_before_connect_timeout, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  conn->on_timeout();
  assert_pending({{AF1, "a"}, {AF2, "c"}});
  conn->on_connect_timeout();
  pop_future(AF1, "a");
  BOOST_TEST(pop_stream("a")->closed);
  pop_future(AF2, "c");
  BOOST_TEST(pop_stream("c")->closed);
  assert_pending({});
  BOOST_TEST(conn->streams().size() == 2u);
  assert_connector_streams_closed();
  BOOST_CHECK_THROW(future->result(), TimeoutError);
}

BOOST_FIXTURE_TEST_CASE(test_two_family_success_after_timeout, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  conn->on_timeout();
  assert_pending({{AF1, "a"}, {AF2, "c"}});
  resolve_connect(AF1, "a", true);
  // if one of streams succeed, connector will close all other streams
  pop_future(AF2, "c");
  BOOST_TEST(pop_stream("c")->closed);
  assert_pending({});
  BOOST_TEST(conn->streams().size() == 1u);
  assert_connector_streams_closed();
  assert_result(AF1, "a");
}

BOOST_FIXTURE_TEST_CASE(test_two_family_timeout_after_connect_timeout, ConnectorTest) {
  start_connect(addrinfo);
  assert_pending({{AF1, "a"}});
  conn->on_connect_timeout();
  pop_future(AF1, "a");
  BOOST_TEST(pop_stream("a")->closed);
  assert_pending({});
  conn->on_timeout();
  // if the future is set with TimeoutError, connector will not trigger secondary address.
  assert_pending({});
  BOOST_TEST(conn->streams().size() == 1u);
  assert_connector_streams_closed();
  BOOST_CHECK_THROW(future->result(), TimeoutError);
}

BOOST_FIXTURE_TEST_CASE(test_timers_drive_the_connector, ConnectorTest) {
  // The same machine on the IOLoop's real timers (short ones): the second family starts when
  // the first timer fires, and the connect timeout fails the whole thing.
  conn = std::make_shared<FakeConnector>(addrinfo, [this](int af, const std::string& addr) { return create_stream(af, addr); });
  future = conn->start(0.01, io_loop().time() + 0.05);
  assert_pending({{AF1, "a"}});
  run_until([&] { return connect_futures.size() == 2; });
  assert_pending({{AF1, "a"}, {AF2, "c"}});
  run_until([&] { return future->done(); });
  BOOST_CHECK_THROW(future->result(), TimeoutError);
  BOOST_TEST(pop_stream("a")->closed);
  BOOST_TEST(pop_stream("c")->closed);
}

BOOST_FIXTURE_TEST_CASE(test_connect_function_throws, ConnectorTest) {
  // A stream that cannot even be made (its source address cannot be bound) fails the whole
  // connection at once with that error, as Tornado's raise does.
  conn = std::make_shared<FakeConnector>(addrinfo, [](int, const std::string&) -> std::pair<std::unique_ptr<FakeStream>, Future<void>> {
    throw std::system_error(EADDRNOTAVAIL, std::generic_category(), "bind");
  });
  future = conn->start(3600);
  BOOST_REQUIRE(future->done());
  BOOST_CHECK_THROW(future->result(), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()
