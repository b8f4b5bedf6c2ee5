#define BOOST_TEST_MODULE ioloop
#include <tornado/testing.hpp>

import tornado.ioloop;
import tornado.gen;

using namespace tornado;
using tornado::testing::AsyncTestCase;

BOOST_FIXTURE_TEST_SUITE(TestIOLoop, AsyncTestCase)

BOOST_AUTO_TEST_CASE(test_add_callback_return_sequence) {
  int count = 0;
  io_loop().add_callback([&] {
    for (int i = 0; i < 10; ++i) io_loop().add_callback([&] { ++count; });
  });
  io_loop().call_later(0.01, [&] { io_loop().stop(); });
  io_loop().start();
  BOOST_TEST(count == 10);
}

TORNADO_GEN_TEST(test_sleep, AsyncTestCase) {
  double start = io_loop().time();
  co_await gen::sleep(0.02);
  BOOST_TEST(io_loop().time() - start >= 0.02);
}

BOOST_AUTO_TEST_SUITE_END()
