// Boost.Test plus the tornado.testing macros. Include this (instead of <boost/test/unit_test.hpp>)
// in test files; define BOOST_TEST_MODULE first in exactly one file of each test program.
//
//   #define BOOST_TEST_MODULE hello
//   #include <tornado/testing.hpp>
//
//   TORNADO_GEN_TEST(sleeps, tornado::testing::AsyncTestCase) {   // the body is a coroutine
//     co_await tornado::gen::sleep(0.01);
//     BOOST_TEST(true);
//   }
#pragma once

#ifndef BOOST_TEST_DYN_LINK
#define BOOST_TEST_DYN_LINK
#endif
#include <boost/test/unit_test.hpp>

#include <optional>

import tornado.testing;
import tornado.concurrent;

/// Declares a Boost.Test case on `fixture` (an AsyncTestCase or a class derived from it) whose
/// body is a coroutine returning tornado::Future<void>, run on the fixture's IOLoop until it
/// completes or `timeout` seconds pass (a std::optional<double>; nullopt: get_async_test_timeout()).
/// Mirrors tornado.testing.gen_test(timeout=...).
#define TORNADO_GEN_TEST_TIMEOUT(test_name, fixture, timeout)                                    \
  struct test_name##_gen_body : fixture {                                                       \
    ::tornado::Future<void> gen_body();                                                         \
  };                                                                                            \
  BOOST_FIXTURE_TEST_CASE(test_name, test_name##_gen_body) {                                    \
    this->run_gen_test([this] { return this->gen_body(); }, timeout);                           \
  }                                                                                             \
  ::tornado::Future<void> test_name##_gen_body::gen_body()

/// TORNADO_GEN_TEST_TIMEOUT with the default timeout. Mirrors tornado.testing.gen_test.
#define TORNADO_GEN_TEST(test_name, fixture) \
  TORNADO_GEN_TEST_TIMEOUT(test_name, fixture, ::std::optional<double>())
