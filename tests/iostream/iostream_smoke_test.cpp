// First checks of tornado.iostream over a socketpair; tests/iostream/iostream_test.cpp ports
// Tornado's iostream_test.py.
#define BOOST_TEST_MODULE iostream_smoke
#include <tornado/testing.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <span>
#include <string>

import tornado.iostream;
import tornado.gen;

using namespace tornado;
using iostream::IOStream;
using tornado::testing::AsyncTestCase;

namespace {
std::pair<std::unique_ptr<IOStream>, std::unique_ptr<IOStream>> make_pair() {
  int sv[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  return {std::make_unique<IOStream>(sv[0]), std::make_unique<IOStream>(sv[1])};
}
}  // namespace

TORNADO_GEN_TEST(read_until_and_bytes, AsyncTestCase) {
  auto [a, b] = make_pair();
  co_await a->write("hello\r\nworld!");
  auto line = co_await b->read_until("\r\n");
  BOOST_TEST(line == "hello\r\n");
  auto rest = co_await b->read_bytes(6);
  BOOST_TEST(rest == "world!");
}

TORNADO_GEN_TEST(read_after_peer_close_gets_buffered_data, AsyncTestCase) {
  auto [a, b] = make_pair();
  co_await a->write("abc");
  a->close();
  auto all = co_await b->read_until_close();
  BOOST_TEST(all == "abc");
  BOOST_TEST(b->closed());
}

TORNADO_GEN_TEST(pending_read_fails_on_close, AsyncTestCase) {
  auto [a, b] = make_pair();
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
  auto [a, b] = make_pair();
  std::string big(8 * 1024 * 1024, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto w = a->write(std::string(big));
  auto got = co_await b->read_bytes(big.size());
  co_await w;
  BOOST_TEST((got == big));
}

TORNADO_GEN_TEST(read_into_partial, AsyncTestCase) {
  auto [a, b] = make_pair();
  char buf[16];
  co_await a->write("12345");
  auto n = co_await b->read_into(std::span<char>(buf, sizeof buf), true);
  BOOST_TEST(n == 5u);
  BOOST_TEST(std::string(buf, n) == "12345");
}

TORNADO_GEN_TEST(close_callback_runs, AsyncTestCase) {
  auto [a, b] = make_pair();
  bool called = false;
  b->set_close_callback([&] { called = true; });
  a->close();
  for (int i = 0; i < 50 && !called; ++i) co_await gen::sleep(0.01);
  BOOST_TEST(called);
}
