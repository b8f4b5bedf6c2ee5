// Tests of tornado.testing. Ported from tornado/test/testing_test.py where it applies; ExpectLog,
// bind_unused_port and get_async_test_timeout, which Tornado tests only through their use, get
// suites of their own.
//
// A test here that checks that something FAILS runs the failing part inside a check of its own
// (BOOST_CHECK_THROW around wait(), run_gen_test(), rethrow() or ExpectLog::close()), so the
// suite itself passes. The three teardown checks that can only report through BOOST_ERROR are
// declared with expected_failures(1) and verify that exactly that one failure was reported.
//
// Not ported, and why:
// - AsyncTestCaseWrapperTest (test_undecorated_generator, test_undecorated_coroutine,
//   test_undecorated_generator_with_skip, test_other_return, test_unwrap): Python finds test
//   methods that are coroutines without @gen_test at run time. In C++ the compiler does: a
//   BOOST_AUTO_TEST_CASE body is a void function, so `co_await` in it does not compile, and it
//   cannot return a value.
// - GenTest.test_with_method_args / test_with_method_kwargs: a TORNADO_GEN_TEST body takes no
//   arguments; a test's data lives in its fixture.
// - GenTest.test_native_coroutine / test_native_coroutine_timeout: C++ has one kind of coroutine,
//   so they are test_sync and test_timeout.
// - The part of GenTest.test_timeout that checks the traceback names the `gen.sleep(1)` line: a
//   C++ exception carries no stack; the message names the timeout instead.
// - GetNewIOLoopTest: about sharing asyncio's event loop with pytest-asyncio; there is no
//   asyncio here, and every AsyncTestCase makes its own IOLoop.
// - AsyncTestCase.stop(value) returning the value from wait(): not kept (the C++ test reads
//   results from its own variables).
#define BOOST_TEST_MODULE testing
#include <tornado/testing.hpp>

#include "../support/support.hpp"
#include <boost/test/results_collector.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

import tornado.testing;
import tornado.ioloop;
import tornado.gen;
import tornado.log;
import tornado.web;
import tornado.routing;
import tornado.httpserver;
import tornado.httpclient;

using namespace tornado;
using tornado::testing::AsyncTestCase;
using tornado::testing::ExpectLog;

namespace {

// Sets (or, with nullopt, unsets) an environment variable while alive. Mirrors set_environ.
class SetEnviron {
 public:
  SetEnviron(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~SetEnviron() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

using test_support::CaptureStderr;

// Assertions failed so far in the running test case.
unsigned failed_assertions() {
  namespace ut = boost::unit_test;
  return ut::results_collector.results(ut::framework::current_test_case().p_id).p_assertions_failed;
}

// For a test declared with expected_failures(1): passes only if exactly one assertion failed
// since `before`. If there were none, it reports two, so that the one expected cannot cover them.
void require_exactly_one_failure_since(unsigned before, const char* what) {
  if (failed_assertions() - before != 1) {
    BOOST_ERROR(std::string("expected exactly one reported failure: ") + what);
    BOOST_ERROR("(reported twice, so that expected_failures(1) does not hide it)");
  }
}

// What the callbacks of these tests throw: a type of its own, so that a TimeoutError (also a
// std::runtime_error) cannot pass for it.
struct CallbackError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool message_contains(const std::exception& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

}  // namespace

// An AsyncTestCase whose stderr goes to a file: the exceptions these tests raise on purpose are
// printed there instead of cluttering the test output.
struct QuietTestCase : AsyncTestCase {
  CaptureStderr stderr_capture;
};

// Fails at teardown if anything of WARNING or above was logged and not expected.
// [docs: strict-logs]
struct StrictLogs : AsyncTestCase {
  StrictLogs() { fail_on_unexpected_logs = true; }
};
// [/docs]

// ---------------------------------------------------------------------------------------------
// tornado/test/testing_test.py: AsyncTestCaseTest

BOOST_FIXTURE_TEST_SUITE(AsyncTestCaseTest, QuietTestCase)

BOOST_AUTO_TEST_CASE(test_wait_timeout) {
  auto time = [this] { return io_loop().time(); };

  // Accept default 5-second timeout, no error
  io_loop().add_timeout(time() + 0.01, [this] { stop(); });
  wait();

  // Timeout passed to wait()
  io_loop().add_timeout(time() + 1, [this] { stop(); });
  BOOST_CHECK_EXCEPTION(wait(0.01), TimeoutError,
                        [](const TimeoutError& e) { return message_contains(e, "timed out after 0.01 seconds"); });

  // Timeout set with environment variable
  io_loop().add_timeout(time() + 1, [this] { stop(); });
  {
    SetEnviron env("ASYNC_TEST_TIMEOUT", "0.01");
    BOOST_CHECK_THROW(wait(), TimeoutError);
  }
}

// A second call to wait() clears the first timeout.
BOOST_AUTO_TEST_CASE(test_subsequent_wait_calls) {
  // The first wait ends with time left on the clock
  io_loop().add_timeout(io_loop().time() + 0.00, [this] { stop(); });
  wait(0.1);
  // The second wait has enough time for itself but would fail if the
  // first wait's deadline were still in effect.
  io_loop().add_timeout(io_loop().time() + 0.2, [this] { stop(); });
  wait(0.4);
}

// C++ additions for wait/stop.

BOOST_AUTO_TEST_CASE(test_stop_before_wait) {
  stop();
  wait(0.01);  // returns at once: no timeout
  // ...and only once.
  BOOST_CHECK_THROW(wait(0.01), TimeoutError);
}

// [docs: wait-stop]
BOOST_AUTO_TEST_CASE(test_wait_condition) {
  int stops = 0;
  for (int i = 1; i <= 3; ++i) {
    io_loop().call_later(0.001 * i, [this, &stops] {
      ++stops;
      stop();
    });
  }
  wait([&] { return stops == 3; });
  BOOST_TEST(stops == 3);
}
// [/docs]

BOOST_AUTO_TEST_CASE(test_direct_loop_stop_does_not_end_wait) {
  bool stopped_by_test = false;
  io_loop().add_callback([this] { io_loop().stop(); });
  io_loop().call_later(0.01, [&] {
    stopped_by_test = true;
    stop();
  });
  wait();
  BOOST_TEST(stopped_by_test);
}

BOOST_AUTO_TEST_CASE(test_io_loop_is_current) {
  BOOST_TEST(IOLoop::current(false) == &io_loop());
  BOOST_TEST(!io_loop().closed());
}

// Exceptions in callbacks fail the test: wait() rethrows the first one (Tornado's __rethrow).
BOOST_AUTO_TEST_CASE(test_exception_in_callback_fails_wait) {
  io_loop().add_callback([] { throw CallbackError("boom in a callback"); });
  io_loop().call_later(1, [this] { stop(); });
  BOOST_CHECK_EXCEPTION(wait(), CallbackError,
                        [](const CallbackError& e) { return message_contains(e, "boom in a callback"); });
  // The failure was consumed by wait(): the next wait() works, and teardown has nothing to report.
  io_loop().add_callback([this] { stop(); });
  wait();
}

BOOST_AUTO_TEST_CASE(test_exception_in_timer_fails_wait) {
  io_loop().call_later(0, [] { throw std::logic_error("boom in a timer"); });
  BOOST_CHECK_THROW(wait(), std::logic_error);
}

BOOST_AUTO_TEST_CASE(test_exception_in_io_handler_fails_wait) {
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  BOOST_REQUIRE(::write(fds[1], "x", 1) == 1);
  io_loop().add_handler(fds[0], [](int, std::uint32_t) { throw CallbackError("boom in a handler"); },
                        IOLoop::READ);
  BOOST_CHECK_THROW(wait(), CallbackError);
  io_loop().remove_handler(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
}

BOOST_AUTO_TEST_CASE(test_exception_in_spawned_coroutine_fails_wait) {
  io_loop().spawn_callback([]() -> Future<void> {
    co_await gen::moment;
    throw CallbackError("boom in a coroutine");
  });
  BOOST_CHECK_EXCEPTION(wait(), CallbackError,
                        [](const CallbackError& e) { return message_contains(e, "boom in a coroutine"); });
}

// Only the first is rethrown; later ones are counted.
BOOST_AUTO_TEST_CASE(test_first_exception_is_rethrown) {
  io_loop().add_callback([] { throw CallbackError("first"); });
  io_loop().add_callback([] { throw CallbackError("second"); });
  BOOST_CHECK_EXCEPTION(wait(), CallbackError,
                        [](const CallbackError& e) { return std::string(e.what()) == "first"; });
  BOOST_CHECK_NO_THROW(rethrow());
}

// [docs: expect-callback-exception]
BOOST_AUTO_TEST_CASE(test_expected_exception_does_not_fail) {
  ExpectLog expected(log::app_log(), "Exception in callback");
  io_loop().add_callback([] { throw std::runtime_error("expected"); });
  io_loop().add_callback([this] { stop(); });
  wait();
  BOOST_TEST(expected.logged_stack());
}
// [/docs]

BOOST_AUTO_TEST_SUITE_END()

// Exceptions from other threads' callbacks are not the test's: they are logged, not rethrown.
BOOST_FIXTURE_TEST_CASE(test_other_threads_exceptions_not_rethrown, AsyncTestCase) {
  CaptureStderr capture;
  std::thread([] {
    try {
      throw std::runtime_error("elsewhere");
    } catch (...) {
      log::app_log().exception("Exception in callback");
    }
  }).join();
  BOOST_CHECK_NO_THROW(rethrow());
  BOOST_TEST(capture.text().find("elsewhere") != std::string::npos);
}

// fail_on_callback_exceptions = false: the exception is logged (printed) and the test goes on.
// [docs: tolerant]
struct TolerantTest : AsyncTestCase {
  TolerantTest() { fail_on_callback_exceptions = false; }
};
// [/docs]

BOOST_FIXTURE_TEST_CASE(test_fail_on_callback_exceptions_off, TolerantTest) {
  CaptureStderr capture;
  io_loop().add_callback([] { throw std::runtime_error("tolerated"); });
  io_loop().add_callback([this] { stop(); });
  BOOST_CHECK_NO_THROW(wait());
  BOOST_CHECK_NO_THROW(rethrow());
  auto text = capture.text();
  BOOST_TEST(text.find("Exception in callback") != std::string::npos, text);
  BOOST_TEST(text.find("std::runtime_error: tolerated") != std::string::npos, text);
}

// ---------------------------------------------------------------------------------------------
// Set-up and tear-down, with AsyncTestCase made by hand (no fixture around the test).

BOOST_AUTO_TEST_SUITE(SetUpTearDownTest)

// Python checks that AsyncTestCase calls super's setUp/tearDown; in C++ the order is the
// language's: the base is built before the derived fixture and destroyed after it.
BOOST_AUTO_TEST_CASE(test_set_up_tear_down) {
  std::vector<std::string> events;
  struct InheritBoth : AsyncTestCase {
    std::vector<std::string>& events;
    explicit InheritBoth(std::vector<std::string>& e) : events(e) {
      events.push_back(IOLoop::current(false) == &io_loop() ? "setUp" : "setUp without a current loop");
    }
    ~InheritBoth() override { events.push_back(io_loop().closed() ? "tearDown after close" : "tearDown"); }
    void test() { events.push_back("test"); }
  };
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  {
    InheritBoth t(events);
    t.test();
    t.io_loop().add_handler(fds[0], [](int, std::uint32_t) {}, IOLoop::READ);
  }
  BOOST_TEST(events == (std::vector<std::string>{"setUp", "test", "tearDown"}), boost::test_tools::per_element());
  // Teardown closed the loop with all_fds: the descriptor still registered was closed.
  errno = 0;
  int r = ::fcntl(fds[0], F_GETFD);
  int e = errno;
  BOOST_TEST(r == -1);
  BOOST_TEST(e == EBADF);
  ::close(fds[1]);
  BOOST_TEST(IOLoop::current(false) == nullptr);
}

// Subsequent tests run on a fresh loop, untouched by what failed before.
BOOST_AUTO_TEST_CASE(test_each_test_gets_a_fresh_loop) {
  CaptureStderr capture;
  {
    AsyncTestCase t;
    t.io_loop().add_callback([] { throw CallbackError("in the first test"); });
    t.io_loop().add_callback([&t] { t.stop(); });
    BOOST_CHECK_THROW(t.wait(), CallbackError);
  }
  {
    AsyncTestCase t;
    bool ran = false;
    t.io_loop().add_callback([&] {
      ran = true;
      t.stop();
    });
    BOOST_CHECK_NO_THROW(t.wait());
    BOOST_TEST(ran);
    BOOST_CHECK_NO_THROW(t.rethrow());
  }
}

// Nested test cases on one thread: records go to the innermost only.
BOOST_AUTO_TEST_CASE(test_nested_test_cases) {
  CaptureStderr capture;
  AsyncTestCase outer;
  {
    AsyncTestCase inner;
    inner.io_loop().add_callback([] { throw CallbackError("inner"); });
    inner.io_loop().add_callback([&inner] { inner.stop(); });
    BOOST_CHECK_THROW(inner.wait(), CallbackError);
  }
  BOOST_CHECK_NO_THROW(outer.rethrow());
}

// A callback's exception nobody waited for fails the test at teardown (BOOST_ERROR).
BOOST_AUTO_TEST_CASE(test_teardown_reports_callback_exception, *boost::unit_test::expected_failures(1)) {
  unsigned before = failed_assertions();
  {
    CaptureStderr capture;
    AsyncTestCase t;
    t.io_loop().add_callback([] { throw std::runtime_error("nobody waited"); });
    t.io_loop().run_sync([] {});
  }
  require_exactly_one_failure_since(before, "teardown of a test whose callback raised");
}

BOOST_AUTO_TEST_CASE(test_fail_on_unexpected_logs, *boost::unit_test::expected_failures(1)) {
  unsigned before = failed_assertions();
  {
    CaptureStderr capture;
    StrictLogs t;
    log::gen_log().warning("an unexpected warning");
  }
  require_exactly_one_failure_since(before, "teardown with fail_on_unexpected_logs after a warning");
}

BOOST_AUTO_TEST_CASE(test_fail_on_unexpected_logs_spares_expected_ones) {
  StrictLogs t;
  ExpectLog expected(log::gen_log(), "an expected warning");
  log::gen_log().warning("an expected warning");
  log::gen_log().info("and information, which is not a warning");
  BOOST_TEST(expected.matched() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// tornado/test/testing_test.py: LeakTest

namespace {
struct Guard {
  bool& flag;
  ~Guard() { flag = true; }
};

// Parameters, unlike a lambda's captures, live in the coroutine's frame.
Future<void> wait_for_event(bool& destroyed, Future<void> event) {
  Guard guard{destroyed};
  co_await std::move(event);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(LeakTest)

// "Leaked" coroutines are shut down without warnings: one waiting on a future that can never
// complete is destroyed (its locals with it) when the last handle to that future goes, and
// nothing is logged.
BOOST_AUTO_TEST_CASE(test_leaked_coroutine) {
  bool destroyed = false;
  {
    StrictLogs t;
    auto event = std::make_unique<Future<void>>();
    t.io_loop().spawn_callback([&destroyed, e = *event] { return wait_for_event(destroyed, e); });
    t.io_loop().add_callback([&t] { t.stop(); });
    t.wait();
    BOOST_TEST(!destroyed);
    event.reset();  // the coroutine now waits for nothing that can happen
    BOOST_TEST(destroyed);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// tornado/test/testing_test.py: GenTest

// [docs: gen-test-fixture]
struct GenTestCase : AsyncTestCase {
  bool finished = false;
  ~GenTestCase() override { BOOST_TEST(finished); }
};
// [/docs]

BOOST_FIXTURE_TEST_SUITE(GenTest, GenTestCase)

// [docs: gen-test]
TORNADO_GEN_TEST(test_sync, GenTestCase) {
  finished = true;
  co_return;
}

TORNADO_GEN_TEST(test_async, GenTestCase) {
  co_await gen::moment;
  finished = true;
}
// [/docs]

BOOST_AUTO_TEST_CASE(test_timeout) {
  // Set a short timeout and exceed it.
  bool slept = false;
  BOOST_CHECK_EXCEPTION(run_gen_test(
                            [&]() -> Future<void> {
                              co_await gen::sleep(1);
                              slept = true;
                            },
                            0.1),
                        TimeoutError,
                        [](const TimeoutError& e) { return message_contains(e, "timed out after 0.1 seconds"); });
  BOOST_TEST(!slept);
  finished = true;
}

// The same, as docs/testing.md shows it.
// [docs: run-gen-test]
BOOST_AUTO_TEST_CASE(test_times_out) {
  BOOST_CHECK_THROW(run_gen_test([]() -> Future<void> { co_await gen::sleep(1); }, 0.1), TimeoutError);
  finished = true;
}
// [/docs]

// A test that does not exceed its timeout should succeed.
BOOST_AUTO_TEST_CASE(test_no_timeout) {
  BOOST_CHECK_NO_THROW(run_gen_test([]() -> Future<void> { co_await gen::sleep(0.05); }, 1));
  finished = true;
}

BOOST_AUTO_TEST_CASE(test_timeout_environment_variable) {
  // Uses provided timeout of 0.5 seconds, doesn't time out.
  SetEnviron env("ASYNC_TEST_TIMEOUT", "0.1");
  BOOST_CHECK_NO_THROW(run_gen_test([]() -> Future<void> { co_await gen::sleep(0.25); }, 0.5));
  finished = true;
}

BOOST_AUTO_TEST_CASE(test_no_timeout_environment_variable) {
  // Uses environment-variable timeout of 0.1, times out.
  SetEnviron env("ASYNC_TEST_TIMEOUT", "0.1");
  BOOST_CHECK_EXCEPTION(run_gen_test([]() -> Future<void> { co_await gen::sleep(1); }), TimeoutError,
                        [](const TimeoutError& e) { return message_contains(e, "after 0.1 seconds"); });
  finished = true;
}

// C++ additions.

BOOST_AUTO_TEST_CASE(test_exception_in_body_propagates) {
  BOOST_CHECK_EXCEPTION(run_gen_test([]() -> Future<void> {
                          co_await gen::moment;
                          throw std::invalid_argument("from the body");
                        }),
                        std::invalid_argument,
                        [](const std::invalid_argument& e) { return message_contains(e, "from the body"); });
  finished = true;
}

BOOST_AUTO_TEST_CASE(test_callback_exception_during_gen_test) {
  CaptureStderr capture;
  run_gen_test([this]() -> Future<void> {
    io_loop().add_callback([] { throw CallbackError("beside the body"); });
    co_await gen::moment;
    co_await gen::moment;
  });
  // The body finished; the callback's exception is kept for teardown (here taken beforehand).
  BOOST_CHECK_THROW(rethrow(), CallbackError);
  finished = true;
}

// [docs: gen-test-timeout]
TORNADO_GEN_TEST_TIMEOUT(test_gen_test_with_timeout, GenTestCase, 1.0) {
  co_await gen::sleep(0.01);
  finished = true;
}
// [/docs]

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// ExpectLog (tornado.testing.ExpectLog: Tornado tests it through its use in other suites).

namespace {
// A logger of its own for one test, with a handler recording the messages that get through.
// The logger's level and propagation are restored afterwards (app_log is watched too).
struct Watched {
  log::Logger& logger;
  std::vector<std::string> passed;
  log::Level saved_level;
  bool saved_propagate;
  std::size_t handler;
  explicit Watched(std::string_view name)
      : logger(log::get_logger(name)), saved_level(logger.level()), saved_propagate(logger.propagate) {
    logger.set_level(log::Level::NOTSET);
    logger.propagate = false;
    handler = logger.add_handler([this](const log::LogRecord& r) { passed.push_back(r.message); });
  }
  ~Watched() {
    logger.remove_handler(handler);
    logger.set_level(saved_level);
    logger.propagate = saved_propagate;
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(ExpectLogTest)

// [docs: expect-log]
BOOST_FIXTURE_TEST_CASE(test_expected_warning, StrictLogs) {
  ExpectLog expected(log::gen_log(), "Bad request from");
  log::gen_log().warning("Bad request from {}: {}", "127.0.0.1", "missing Host header");
  BOOST_TEST(expected.matched() == 1u);
}
// [/docs]

BOOST_AUTO_TEST_CASE(test_required_and_matched) {
  Watched w("ExpectLogTest.matched");
  {
    ExpectLog expected(w.logger, "hello");
    w.logger.warning("hello world");
    w.logger.warning("goodbye");
    BOOST_TEST(expected.matched() == 1u);
    BOOST_CHECK_NO_THROW(expected.close());
  }
  // Matching lines are kept out of the output; the rest go through.
  BOOST_TEST(w.passed == (std::vector<std::string>{"goodbye"}), boost::test_tools::per_element());
  w.logger.warning("hello again");  // no longer watched
  BOOST_TEST(w.passed.back() == "hello again");
}

BOOST_AUTO_TEST_CASE(test_required_not_matched) {
  Watched w("ExpectLogTest.unmatched");
  ExpectLog expected(w.logger, "never logged");
  w.logger.warning("something else");
  BOOST_CHECK_EXCEPTION(expected.close(), std::runtime_error, [](const std::runtime_error& e) {
    return message_contains(e, "did not get expected log message matching: never logged");
  });
  BOOST_CHECK_NO_THROW(expected.close());  // once only
}

BOOST_AUTO_TEST_CASE(test_required_not_matched_at_destruction, *boost::unit_test::expected_failures(1)) {
  Watched w("ExpectLogTest.destruction");
  unsigned before = failed_assertions();
  { ExpectLog expected(w.logger, "never logged"); }
  require_exactly_one_failure_since(before, "ExpectLog destroyed without a match");
}

BOOST_AUTO_TEST_CASE(test_not_required) {
  Watched w("ExpectLogTest.optional");
  {
    ExpectLog expected(w.logger, "maybe", false);
    BOOST_CHECK_NO_THROW(expected.close());
  }
  { ExpectLog expected(w.logger, "maybe", false); }  // destruction reports nothing either
  {
    ExpectLog expected(w.logger, "maybe", false);
    w.logger.error("maybe so");
    BOOST_TEST(expected.matched() == 1u);
  }
  BOOST_TEST(w.passed.empty());
}

// An exception on its way out of the block is the failure worth reporting, not the log line.
BOOST_AUTO_TEST_CASE(test_exception_in_flight_reports_nothing) {
  Watched w("ExpectLogTest.inflight");
  unsigned before = failed_assertions();
  bool caught = false;
  try {
    ExpectLog expected(w.logger, "never logged");
    throw std::runtime_error("the real failure");
  } catch (const std::runtime_error&) {
    caught = true;
  }
  BOOST_TEST(caught);
  BOOST_TEST(failed_assertions() == before);
}

// Python's re.match: the pattern must match at the start of the message, not just anywhere.
BOOST_AUTO_TEST_CASE(test_regex_matches_from_the_start) {
  Watched w("ExpectLogTest.regex");
  ExpectLog expected(w.logger, "wor", false);
  w.logger.warning("hello world");
  w.logger.warning("world");
  ExpectLog pattern(w.logger, R"(\d+ errors?)", false);
  w.logger.warning("12 errors found");
  BOOST_TEST(expected.matched() == 1u);
  BOOST_TEST(pattern.matched() == 1u);
  BOOST_TEST(w.passed == (std::vector<std::string>{"hello world"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(test_level) {
  Watched w("ExpectLogTest.level");
  Watched app("tornado.application");
  BOOST_TEST(w.logger.effective_level() == log::Level::WARNING);
  {
    // A DEBUG record would not pass the logger's threshold: the ExpectLog lowers it meanwhile.
    ExpectLog expected(w.logger, "detail", true, log::Level::DEBUG);
    BOOST_TEST(w.logger.level() == log::Level::DEBUG);
    w.logger.debug("detail one");
    // Right message, wrong level: let through, with a warning on app_log.
    w.logger.info("detail two");
    BOOST_TEST(expected.matched() == 1u);
  }
  BOOST_TEST(w.logger.level() == log::Level::NOTSET);
  BOOST_TEST(w.passed == (std::vector<std::string>{"detail two"}), boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(app.passed.size(), 1u);
  BOOST_TEST(app.passed[0] == "Got expected log message detail two at unexpected level (DEBUG vs INFO)");
}

// A level already enabled is left alone.
BOOST_AUTO_TEST_CASE(test_level_not_lowered_when_enabled) {
  Watched w("ExpectLogTest.level_enabled");
  w.logger.set_level(log::Level::DEBUG);
  {
    ExpectLog expected(w.logger, "x", true, log::Level::ERROR);
    BOOST_TEST(w.logger.level() == log::Level::DEBUG);
    w.logger.error("x");
  }
  BOOST_TEST(w.logger.level() == log::Level::DEBUG);
}

// A wrong-level warning on app_log that the ExpectLog itself would match does not loop.
BOOST_AUTO_TEST_CASE(test_level_warning_does_not_recurse) {
  Watched app("tornado.application");
  {
    ExpectLog expected(log::app_log(), ".*", false, log::Level::INFO);
    log::app_log().error("anything");
    BOOST_TEST(expected.matched() == 0u);
  }
  BOOST_TEST(app.passed.size() == 2u);
}

BOOST_AUTO_TEST_CASE(test_logged_stack) {
  Watched w("ExpectLogTest.stack");
  {
    ExpectLog expected(w.logger, "plain");
    w.logger.error("plain");
    BOOST_TEST(!expected.logged_stack());
  }
  {
    ExpectLog expected(w.logger, "caught");
    try {
      throw std::runtime_error("x");
    } catch (...) {
      w.logger.exception("caught it");
    }
    BOOST_TEST(expected.logged_stack());
  }
  {
    // As in Tornado: any record the ExpectLog examined counts, matching or not.
    ExpectLog expected(w.logger, "unrelated", false);
    w.logger.log_exception(log::Level::ERROR, std::make_exception_ptr(std::runtime_error("y")), "other");
    BOOST_TEST(expected.logged_stack());
  }
}

BOOST_AUTO_TEST_CASE(test_logger_by_name) {
  Watched w("ExpectLogTest.by_name");
  ExpectLog expected("ExpectLogTest.by_name", "named");
  w.logger.warning("named");
  BOOST_TEST(expected.matched() == 1u);
}

// It filters one logger: records logged on a child logger are not its business (as in Python).
BOOST_AUTO_TEST_CASE(test_does_not_see_child_records) {
  Watched parent("ExpectLogTest.parent");
  Watched child("ExpectLogTest.parent.child");
  child.logger.propagate = true;
  ExpectLog expected(parent.logger, "from the child", false);
  child.logger.warning("from the child");
  BOOST_TEST(expected.matched() == 0u);
  BOOST_TEST(parent.passed.size() == 1u);
}

BOOST_AUTO_TEST_CASE(test_bad_regex_throws) {
  Watched w("ExpectLogTest.bad_regex");
  BOOST_CHECK_THROW(ExpectLog(w.logger, "(unclosed"), std::regex_error);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// bind_unused_port and get_async_test_timeout.

BOOST_AUTO_TEST_SUITE(BindUnusedPortTest)

BOOST_AUTO_TEST_CASE(test_bind_unused_port) {
  auto [fd, port] = testing::bind_unused_port();
  BOOST_TEST(port > 0);
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  BOOST_TEST(ntohs(addr.sin_port) == port);
  BOOST_TEST(addr.sin_addr.s_addr == htonl(INADDR_LOOPBACK));
  BOOST_TEST((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
  BOOST_TEST((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  int listening = 0;
  len = sizeof listening;
  BOOST_REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0);
  BOOST_TEST(listening == 1);

  // A client can connect (the kernel completes it from the backlog).
  int client = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_TEST(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(client);

  // The port is taken while the socket lives.
  int other = ::socket(AF_INET, SOCK_STREAM, 0);
  errno = 0;
  BOOST_TEST(::bind(other, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == -1);
  BOOST_TEST(errno == EADDRINUSE);
  ::close(other);
  ::close(fd);
}

// [docs: bind-unused-port]
TORNADO_GEN_TEST(test_accepts_a_connection, AsyncTestCase) {
  auto [listener, port] = testing::bind_unused_port();
  Future<int> accepted;
  io_loop().add_handler(listener, [&](int fd, std::uint32_t) {
    int conn = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn >= 0 && !accepted.done()) accepted.set_result(conn);
  }, IOLoop::READ);

  int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  int conn = co_await accepted;
  BOOST_TEST(::write(client, "ping", 4) == 4);
  char buf[4];
  BOOST_TEST(::read(conn, buf, 4) == 4);
  BOOST_TEST(std::string(buf, 4) == "ping");

  io_loop().remove_handler(listener);
  for (int fd : {conn, client, listener}) ::close(fd);
}
// [/docs]

BOOST_AUTO_TEST_CASE(test_reuse_port) {
  auto [fd, port] = testing::bind_unused_port(true);
  int other = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(other, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_TEST(::bind(other, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  ::close(other);
  ::close(fd);
}

BOOST_AUTO_TEST_CASE(test_bad_address) {
  BOOST_CHECK_THROW(testing::bind_unused_port(false, "not an address"), std::system_error);
}

BOOST_AUTO_TEST_CASE(test_get_async_test_timeout) {
  {
    SetEnviron env("ASYNC_TEST_TIMEOUT", std::nullopt);
    BOOST_TEST(testing::get_async_test_timeout() == 5.0);
  }
  {
    SetEnviron env("ASYNC_TEST_TIMEOUT", "0.5");
    BOOST_TEST(testing::get_async_test_timeout() == 0.5);
  }
  {
    SetEnviron env("ASYNC_TEST_TIMEOUT", "soon");
    BOOST_TEST(testing::get_async_test_timeout() == 5.0);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------------------------
// AsyncHTTPTestCase

namespace {
struct HelloHandler : tornado::web::RequestHandler {
  void get() { write("Hello, world"); }
};

// Mirrors testing_test.AsyncHTTPTestCaseTest: a second server on a port of its own.
struct AsyncHTTPTestCaseTest : testing::AsyncHTTPTestCase {
  AsyncHTTPTestCaseTest() {
    auto sock = testing::bind_unused_port();
    second_app = std::make_unique<tornado::web::Application>();
    second_server = std::make_unique<tornado::httpserver::HTTPServer>(*second_app, get_httpserver_options());
    second_server->add_socket(sock.fd);
    second_port = sock.port;
  }
  ~AsyncHTTPTestCaseTest() override {
    second_server->stop();
    io_loop().run_sync([this] { return second_server->close_all_connections(); }, 5.0);
  }
  std::unique_ptr<tornado::web::Application> get_app() override {
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::routing::Rule>{{"/hello", tornado::web::handler<HelloHandler>()}});
  }
  std::unique_ptr<tornado::web::Application> second_app;
  std::unique_ptr<tornado::httpserver::HTTPServer> second_server;
  int second_port = 0;
};

// An application that says when it is destroyed.
struct FlagApplication : tornado::web::Application {
  explicit FlagApplication(bool& destroyed) : destroyed(destroyed) {}
  ~FlagApplication() override { destroyed = true; }
  bool& destroyed;
};

struct HTTPSHelloTest : testing::AsyncHTTPSTestCase {
  std::unique_ptr<tornado::web::Application> get_app() override {
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::routing::Rule>{{"/", tornado::web::handler<HelloHandler>()}});
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(AsyncHTTPTestCaseTestSuite)

BOOST_FIXTURE_TEST_CASE(test_fetch_segment, AsyncHTTPTestCaseTest) {
  std::string path = "/path";
  auto response = fetch(path);
  BOOST_TEST(response.request.url == get_url(path));
  BOOST_TEST(response.code == 404);  // fetch does not raise by default
  BOOST_TEST(fetch("/hello").body == "Hello, world");
  BOOST_CHECK_THROW(fetch("/path", true), tornado::httpclient::HTTPClientError);
}

BOOST_FIXTURE_TEST_CASE(test_fetch_full_http_url, AsyncHTTPTestCaseTest) {
  // Ensure that fetch() recognizes absolute urls and does not transform them into references to
  // our main test server.
  std::string path = "http://localhost:" + std::to_string(second_port) + "/path";
  auto response = fetch(path);
  BOOST_TEST(response.request.url == path);
  BOOST_TEST(response.code == 404);
}

BOOST_FIXTURE_TEST_CASE(test_get_url, AsyncHTTPTestCaseTest) {
  BOOST_TEST(get_protocol() == "http");
  BOOST_TEST(get_url("/x") == "http://127.0.0.1:" + std::to_string(get_http_port()) + "/x");
  BOOST_TEST(http_server().connection_count() == 0u);
}

TORNADO_GEN_TEST(test_gen_test_fetch, AsyncHTTPTestCaseTest) {
  auto response = co_await http_client().fetch(get_url("/hello"));
  BOOST_TEST(response.body == "Hello, world");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(AsyncHTTPTestCaseSetUpTearDownTest)
BOOST_AUTO_TEST_CASE(test_tear_down_releases_app_and_http_server) {
  bool destroyed = false;
  int port = 0;
  {
    struct SetUpTearDown : testing::AsyncHTTPTestCase {
      explicit SetUpTearDown(bool& d) : d(d) {}
      std::unique_ptr<tornado::web::Application> get_app() override { return std::make_unique<FlagApplication>(d); }
      bool& d;
    } test(destroyed);
    test.setup();
    port = test.get_http_port();
    BOOST_TEST(test.fetch("/").code == 404);
    BOOST_TEST(!destroyed);
  }
  BOOST_TEST(destroyed);
  // The server's socket was closed with it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::close(fd);
  BOOST_TEST(rc == -1);
}
BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(AsyncHTTPSTestCaseTest)
BOOST_FIXTURE_TEST_CASE(test_https_fetch, HTTPSHelloTest) {
  BOOST_TEST(get_protocol() == "https");
  BOOST_TEST(get_url("/").starts_with("https://127.0.0.1:"));
  auto response = fetch("/");
  BOOST_TEST(response.code == 200);
  BOOST_TEST(response.body == "Hello, world");
}
BOOST_AUTO_TEST_SUITE_END()
