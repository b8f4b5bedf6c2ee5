// Tests of tornado.netutil's resolvers, is_valid_ip and bind_sockets: a port of Tornado's
// tornado/test/netutil_test.py, plus cases for what the C++ version adds (inline answers for
// numeric hosts, Unix socket targets, ResolveError).
//
// Not ported, and why:
// - BlockingResolverTest, ThreadedResolverTest (+ their ErrorTests): those resolvers are deprecated
//   in Tornado and not provided; their cases run here against DefaultExecutorResolver, which is
//   what they exercised (getaddrinfo off the loop's thread).
// - ThreadedResolverImportTest: a Python import-lock deadlock; C++ has no import-time code.
// - CaresResolverTest, TwistedResolverTest: those optional resolvers are not provided.
// - The error tests' mocked getaddrinfo: C++ cannot swap the libc function, so test_bad_host asks
//   for names that fail without network access (an invalid name and the reserved ".invalid"
//   domain, RFC 6761), which glibc rejects at once.
#define BOOST_TEST_MODULE netutil
#include <tornado/testing.hpp>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

import tornado.netutil;
import tornado.ioloop;

using namespace tornado;
using netutil::ResolvedAddress;
using netutil::SocketAddress;
using tornado::testing::AsyncTestCase;

namespace {

bool contains(const std::vector<ResolvedAddress>& addrinfo, int family, const std::string& host, int port) {
  return std::any_of(addrinfo.begin(), addrinfo.end(), [&](const ResolvedAddress& a) {
    return a.first == family && a.second.family() == family && a.second.host() == host && a.second.port() == port;
  });
}

// Counts the lookups it is asked for, and answers each with the address it was asked about.
struct RecordingResolver : netutil::Resolver {
  struct Call {
    std::string host;
    std::uint16_t port;
    int family;
  };
  std::vector<Call> calls;
  int closes = 0;
  Future<std::vector<ResolvedAddress>> resolve(std::string host, std::uint16_t port, int family) override {
    calls.push_back({host, port, family});
    return netutil::DefaultExecutorResolver().resolve(host, port, family);
  }
  void close() override { ++closes; }
};

}  // namespace

// _ResolverTestMixin / BlockingResolverTest: the default resolver, through the executor.
BOOST_AUTO_TEST_SUITE(DefaultExecutorResolverTest)

TORNADO_GEN_TEST(test_localhost, AsyncTestCase) {
  netutil::DefaultExecutorResolver resolver;
  auto future = resolver.resolve("localhost", 80, AF_UNSPEC);
  BOOST_TEST(!future.done());  // a name goes through the executor: not answered inline
  auto addrinfo = co_await future;
  BOOST_TEST(contains(addrinfo, AF_INET, "127.0.0.1", 80));
}

TORNADO_GEN_TEST(test_numeric_host_inline, AsyncTestCase) {
  netutil::DefaultExecutorResolver resolver;
  auto v4 = resolver.resolve("127.0.0.1", 8080);
  BOOST_REQUIRE(v4.done());  // no thread for a numeric address
  BOOST_TEST(v4.result().size() == 1u);
  BOOST_TEST(contains(v4.result(), AF_INET, "127.0.0.1", 8080));
  auto v6 = resolver.resolve("::1", 443, AF_INET6);
  BOOST_REQUIRE(v6.done());
  BOOST_TEST(contains(v6.result(), AF_INET6, "::1", 443));
  co_return;
}

TORNADO_GEN_TEST(test_numeric_host_wrong_family, AsyncTestCase) {
  // An IPv4 literal asked for as IPv6 is not resolvable: the future fails, inline.
  netutil::DefaultExecutorResolver resolver;
  auto f = resolver.resolve("127.0.0.1", 80, AF_INET6);
  BOOST_REQUIRE(f.done());
  BOOST_CHECK_THROW(f.result(), netutil::ResolveError);
  co_return;
}

TORNADO_GEN_TEST(test_unix_socket_path, AsyncTestCase) {
  netutil::DefaultExecutorResolver resolver;
  auto f = resolver.resolve("/tmp/some.sock", 0, AF_UNIX);
  BOOST_REQUIRE(f.done());
  BOOST_REQUIRE(f.result().size() == 1u);
  BOOST_TEST(f.result()[0].first == AF_UNIX);
  BOOST_TEST(f.result()[0].second.host() == "/tmp/some.sock");
  co_return;
}

BOOST_AUTO_TEST_SUITE_END()

// _ResolverErrorTestMixin / BlockingResolverErrorTest.
BOOST_AUTO_TEST_SUITE(DefaultExecutorResolverErrorTest)

TORNADO_GEN_TEST(test_bad_host, AsyncTestCase) {
  netutil::DefaultExecutorResolver resolver;
  for (const char* host : {"an invalid domain", "nonexistent.invalid"}) {
    bool failed = false;
    try {
      co_await resolver.resolve(host, 80, AF_UNSPEC);
    } catch (const netutil::ResolveError& e) {
      failed = true;
      // Python's socket.gaierror text: "[Errno -2] Name or service not known".
      BOOST_TEST(e.code() != 0);
      std::string what = e.what();
      BOOST_TEST(what.find(::gai_strerror(e.code())) != std::string::npos, what);
      BOOST_TEST(what.find(host) != std::string::npos, what);
    }
    BOOST_TEST(failed, host);
  }
}

TORNADO_GEN_TEST(test_resolve_error_is_runtime_error, AsyncTestCase) {
  // Code that catches "any I/O error" (Tornado's IOError) as std::runtime_error sees it too.
  netutil::DefaultExecutorResolver resolver;
  BOOST_CHECK_THROW(co_await resolver.resolve("nonexistent.invalid", 80), std::runtime_error);
}

BOOST_AUTO_TEST_SUITE_END()

struct OverrideResolverFixture : AsyncTestCase {
  std::shared_ptr<netutil::OverrideResolver> resolver = std::make_shared<netutil::OverrideResolver>(
      std::make_shared<netutil::DefaultExecutorResolver>(),
      netutil::OverrideResolver::Mapping{
          {{"google.com", 80}, {"1.2.3.4", 80}},
          {{"google.com", 80, AF_INET}, {"1.2.3.4", 80}},
          {{"google.com", 80, AF_INET6}, {"2a02:6b8:7c:40c:c51e:495f:e23a:3", 80}},
      });
};

BOOST_AUTO_TEST_SUITE(OverrideResolverTest)

TORNADO_GEN_TEST(test_localhost, OverrideResolverFixture) {
  // Names the mapping does not mention go to the wrapped resolver unchanged.
  auto addrinfo = co_await resolver->resolve("localhost", 80, AF_UNSPEC);
  BOOST_TEST(contains(addrinfo, AF_INET, "127.0.0.1", 80));
}

TORNADO_GEN_TEST(test_resolve_multiaddr, OverrideResolverFixture) {
  auto result = co_await resolver->resolve("google.com", 80, AF_INET);
  BOOST_TEST(contains(result, AF_INET, "1.2.3.4", 80));
  result = co_await resolver->resolve("google.com", 80, AF_INET6);
  BOOST_TEST(contains(result, AF_INET6, "2a02:6b8:7c:40c:c51e:495f:e23a:3", 80));
}

TORNADO_GEN_TEST(test_most_specific_key_wins, AsyncTestCase) {
  auto inner = std::make_shared<RecordingResolver>();
  netutil::OverrideResolver resolver(inner, {
                                                {"example.com", "127.0.1.1"},
                                                {{"example.com", 443}, {"127.0.0.2", 1443}},
                                                {{"example.com", 443, AF_INET}, {"127.0.0.3", 2443}},
                                            });
  auto a = co_await resolver.resolve("example.com", 80);  // host only: the port is kept
  BOOST_TEST(contains(a, AF_INET, "127.0.1.1", 80));
  auto b = co_await resolver.resolve("example.com", 443);  // (host, port)
  BOOST_TEST(contains(b, AF_INET, "127.0.0.2", 1443));
  auto c = co_await resolver.resolve("example.com", 443, AF_INET);  // (host, port, family)
  BOOST_TEST(contains(c, AF_INET, "127.0.0.3", 2443));
  auto d = co_await resolver.resolve("127.0.0.9", 7);  // not in the mapping
  BOOST_TEST(contains(d, AF_INET, "127.0.0.9", 7));
  BOOST_REQUIRE(inner->calls.size() == 4u);
  BOOST_TEST(inner->calls[0].host == "127.0.1.1");
  BOOST_TEST(inner->calls[1].port == 1443);
  BOOST_TEST(inner->calls[2].host == "127.0.0.3");
  BOOST_TEST(inner->calls[3].host == "127.0.0.9");
}

TORNADO_GEN_TEST(test_unix_socket_target, AsyncTestCase) {
  netutil::OverrideResolver resolver(
      std::make_shared<netutil::DefaultExecutorResolver>(),
      {{"myservice", netutil::OverrideResolver::Target::unix_socket("/tmp/tornado-test.sock")}});
  auto addrinfo = co_await resolver.resolve("myservice", 80);
  BOOST_REQUIRE(addrinfo.size() == 1u);
  BOOST_TEST(addrinfo[0].first == AF_UNIX);
  BOOST_TEST(addrinfo[0].second.family() == AF_UNIX);
  BOOST_TEST(addrinfo[0].second.host() == "/tmp/tornado-test.sock");
}

TORNADO_GEN_TEST(test_close_closes_wrapped_resolver, AsyncTestCase) {
  auto inner = std::make_shared<RecordingResolver>();
  netutil::OverrideResolver resolver(inner, {});
  resolver.close();
  BOOST_TEST(inner->closes == 1);
  co_return;
}

BOOST_AUTO_TEST_CASE(test_null_resolver_rejected) {
  BOOST_CHECK_THROW(netutil::OverrideResolver(nullptr, {}), std::invalid_argument);
  BOOST_CHECK_THROW(netutil::OverrideResolver::Key("h", 70000), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(IsValidIPTest)

BOOST_AUTO_TEST_CASE(test_is_valid_ip) {
  BOOST_TEST(netutil::is_valid_ip("127.0.0.1"));
  BOOST_TEST(netutil::is_valid_ip("4.4.4.4"));
  BOOST_TEST(netutil::is_valid_ip("::1"));
  BOOST_TEST(netutil::is_valid_ip("2620:0:1cfe:face:b00c::3"));
  BOOST_TEST(!netutil::is_valid_ip("www.google.com"));
  BOOST_TEST(!netutil::is_valid_ip("localhost"));
  BOOST_TEST(!netutil::is_valid_ip("4.4.4.4<"));
  BOOST_TEST(!netutil::is_valid_ip(" 127.0.0.1"));
  BOOST_TEST(!netutil::is_valid_ip(""));
  BOOST_TEST(!netutil::is_valid_ip(" "));
  BOOST_TEST(!netutil::is_valid_ip("\n"));
  BOOST_TEST(!netutil::is_valid_ip(std::string_view("\0", 1)));
  BOOST_TEST(!netutil::is_valid_ip(std::string(100, 'a')));
}

BOOST_AUTO_TEST_SUITE_END()

namespace {
struct SocketsCloser {
  std::vector<int> fds;
  ~SocketsCloser() {
    for (int fd : fds) ::close(fd);
  }
};

bool localhost_is_dual_stack() {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo("localhost", "80", &hints, &res) != 0) return false;
  bool v4 = false, v6 = false;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    v4 = v4 || ai->ai_family == AF_INET;
    v6 = v6 || ai->ai_family == AF_INET6;
  }
  ::freeaddrinfo(res);
  return v4 && v6;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(TestPortAllocation)

BOOST_AUTO_TEST_CASE(test_same_port_allocation) {
  SocketsCloser sockets{netutil::bind_sockets(0, "localhost")};
  BOOST_REQUIRE(!sockets.fds.empty());
  auto port = netutil::get_sock_name(sockets.fds[0]).port();
  BOOST_TEST(port != 0);
  for (int fd : sockets.fds) BOOST_TEST(netutil::get_sock_name(fd).port() == port);
}

BOOST_AUTO_TEST_CASE(test_same_port_allocation_ipv4_and_ipv6) {
  // Port 0 on an address with both an IPv4 and an IPv6 socket: the kernel picks the first
  // socket's port, and the IPv6 one must get the same. "localhost" gives both families on most
  // machines; where /etc/hosts maps it to 127.0.0.1 only, the wildcard address does (its
  // sockets are closed at once and never accept a connection).
  std::string address = localhost_is_dual_stack() ? "localhost" : "";
  SocketsCloser sockets{netutil::bind_sockets(0, address)};
  bool v4 = false, v6 = false;
  for (int fd : sockets.fds) {
    auto name = netutil::get_sock_name(fd);
    v4 = v4 || name.family() == AF_INET;
    v6 = v6 || name.family() == AF_INET6;
  }
  if (!v6) {
    BOOST_TEST_MESSAGE("this host has no usable IPv6: only the IPv4 socket was bound");
  }
  BOOST_TEST(v4);
  auto port = netutil::get_sock_name(sockets.fds[0]).port();
  BOOST_TEST(port != 0);
  for (int fd : sockets.fds) BOOST_TEST(netutil::get_sock_name(fd).port() == port);
}

BOOST_AUTO_TEST_CASE(test_reuse_port) {
  auto bound = tornado::testing::bind_unused_port(true);
  SocketsCloser first{{bound.fd}};
  SocketsCloser sockets{netutil::bind_sockets(static_cast<std::uint16_t>(bound.port), "127.0.0.1", 0, 128, true)};
  BOOST_REQUIRE(!sockets.fds.empty());
  for (int fd : sockets.fds) BOOST_TEST(netutil::get_sock_name(fd).port() == bound.port);
}

BOOST_AUTO_TEST_CASE(test_port_in_use_without_reuse_port) {
  // The counterpart of test_reuse_port: without SO_REUSEPORT on both, the second bind fails.
  auto bound = tornado::testing::bind_unused_port(false);
  SocketsCloser first{{bound.fd}};
  BOOST_CHECK_THROW(netutil::bind_sockets(static_cast<std::uint16_t>(bound.port), "127.0.0.1"), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()
