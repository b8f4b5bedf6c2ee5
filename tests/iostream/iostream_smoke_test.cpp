// First checks of tornado.iostream over a socketpair; tests/iostream/iostream_test.cpp ports
// Tornado's iostream_test.py.
#define BOOST_TEST_MODULE iostream_smoke
#include <tornado/testing.hpp>

#include "../support/support.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <span>
#include <string>

import tornado.iostream;
import tornado.gen;
import tornado.netutil;
import tornado.log;

using namespace tornado;
using iostream::IOStream;
using tornado::testing::AsyncTestCase;

TORNADO_GEN_TEST(read_until_and_bytes, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  co_await a->write("hello\r\nworld!");
  auto line = co_await b->read_until("\r\n");
  BOOST_TEST(line == "hello\r\n");
  auto rest = co_await b->read_bytes(6);
  BOOST_TEST(rest == "world!");
}

TORNADO_GEN_TEST(read_after_peer_close_gets_buffered_data, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  co_await a->write("abc");
  a->close();
  auto all = co_await b->read_until_close();
  BOOST_TEST(all == "abc");
  BOOST_TEST(b->closed());
}

TORNADO_GEN_TEST(pending_read_fails_on_close, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  auto f = b->read_bytes(10);
  co_await a->write("abc");
  a->close();
  bool closed_error = false;
  try {
    co_await f;
  } catch (const iostream::StreamClosedError&) {
    closed_error = true;
  }
  BOOST_TEST(closed_error);
}

TORNADO_GEN_TEST(large_write_through_small_buffers, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  std::string big(8 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto w = a->write(std::string(big));
  auto got = co_await b->read_bytes(big.size());
  co_await w;
  BOOST_TEST((got == big));
}

TORNADO_GEN_TEST(read_into_partial, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  char buf[16];
  co_await a->write("12345");
  auto n = co_await b->read_into(std::span<char>(buf, sizeof buf), true);
  BOOST_TEST(n == 5u);
  BOOST_TEST(std::string(buf, n) == "12345");
}

TORNADO_GEN_TEST(close_callback_runs, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  bool called = false;
  b->set_close_callback([&] { called = true; });
  a->close();
  for (int i = 0; i < 50 && !called; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(called);
}

// --- TLS -------------------------------------------------------------------------------------

namespace {
netutil::SSLContext client_context() {
  netutil::SSLContext ctx(false);
  ctx.load_verify_locations(test_support::data_file("ca.crt"));
  return ctx;
}

// A connected TCP pair on 127.0.0.1 (TLS wants real sockets so getpeername works).
std::pair<int, int> tcp_pair() {
  auto listener = tornado::testing::bind_unused_port();
  int c = ::socket(AF_INET, SOCK_STREAM, 0);
  auto addr = netutil::SocketAddress("127.0.0.1", static_cast<std::uint16_t>(listener.port));
  BOOST_REQUIRE(::connect(c, static_cast<const sockaddr*>(addr.data()), addr.size()) == 0);
  int s = -1;
  for (int i = 0; i < 100 && s < 0; ++i) s = ::accept(listener.fd, nullptr, nullptr);
  ::close(listener.fd);
  BOOST_REQUIRE(s >= 0);
  return {s, c};
}
}  // namespace

TORNADO_GEN_TEST(tls_round_trip, AsyncTestCase) {
  auto [s, c] = tcp_pair();
  auto server = std::make_unique<iostream::SSLIOStream>(s, test_support::server_tls(), true);
  auto client = std::make_unique<iostream::SSLIOStream>(c, client_context(), false, "localhost");
  co_await client->wait_for_handshake();
  co_await client->write("ping\n");
  auto line = co_await server->read_until("\n");
  BOOST_TEST(line == "ping\n");
  co_await server->write(std::string(300000, 'z'));
  auto big = co_await client->read_bytes(300000);
  BOOST_TEST(big.size() == 300000u);
  BOOST_TEST(!client->peer_certificate_der().empty());
}

TORNADO_GEN_TEST(tls_hostname_mismatch_fails, AsyncTestCase) {
  auto [s, c] = tcp_pair();
  tornado::testing::ExpectLog expect(log::gen_log(), "SSL Error");
  auto server = std::make_unique<iostream::SSLIOStream>(s, test_support::server_tls(), true);
  auto client = std::make_unique<iostream::SSLIOStream>(c, client_context(), false, "wrong.example");
  bool failed = false;
  try {
    co_await client->wait_for_handshake();
  } catch (const netutil::SSLCertVerificationError& e) {
    failed = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  BOOST_TEST(failed);
}

TORNADO_GEN_TEST(start_tls_upgrades_both_sides, AsyncTestCase) {
  auto [s, c] = tcp_pair();
  auto server = std::make_unique<IOStream>(s);
  auto client = std::make_unique<IOStream>(c);
  co_await client->write("STARTTLS\r\n");
  BOOST_TEST((co_await server->read_until("\r\n")) == "STARTTLS\r\n");
  auto server_tls = server->start_tls(true, test_support::server_tls());
  auto client_tls = client->start_tls(false, client_context(), "localhost");
  auto st = co_await std::move(server_tls);
  auto ct = co_await std::move(client_tls);
  co_await ct->write("secret\n");
  BOOST_TEST((co_await st->read_until("\n")) == "secret\n");
  BOOST_TEST(server->closed());
}

TORNADO_GEN_TEST(read_more_parses_in_place, AsyncTestCase) {
  auto [a, b] = test_support::stream_pair();
  auto more = b->read_more();
  BOOST_TEST(!more.done());
  co_await a->write("GET / HT");
  co_await std::move(more);
  BOOST_TEST(b->read_buffer() == "GET / HT");
  b->consume(4);
  BOOST_TEST(b->read_buffer() == "/ HT");
  co_await a->write("TP/1.1\r\n");
  co_await b->read_more();
  BOOST_TEST(b->read_buffer() == "/ HTTP/1.1\r\n");
  b->consume(b->read_buffer().size());
  a->close();
  bool closed = false;
  try {
    co_await b->read_more();
  } catch (const iostream::StreamClosedError&) {
    closed = true;
  }
  BOOST_TEST(closed);
}
