// tornado.testing: fixtures for testing asynchronous code on Boost.Test. Mirrors tornado.testing.
// The macros (TORNADO_GEN_TEST...) live in <tornado/testing.hpp>, since a module cannot export
// macros; include that header in test files.
module;
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
export module tornado.testing;

export import tornado.ioloop;
export import tornado.concurrent;
export import tornado.log;

export namespace tornado::testing {

/// Seconds a TORNADO_GEN_TEST may run: $ASYNC_TEST_TIMEOUT if set and valid, else 5.
/// Mirrors tornado.testing.get_async_test_timeout.
double get_async_test_timeout();

/// A Boost.Test fixture giving each test a fresh IOLoop, made current for the test and closed
/// (with every descriptor still registered on it) afterwards. Use with BOOST_FIXTURE_TEST_CASE,
/// or with TORNADO_GEN_TEST for a test whose body is a coroutine. Mirrors
/// tornado.testing.AsyncTestCase.
class AsyncTestCase {
 public:
  AsyncTestCase();
  virtual ~AsyncTestCase();
  AsyncTestCase(const AsyncTestCase&) = delete;
  AsyncTestCase& operator=(const AsyncTestCase&) = delete;

  /// The test's loop. Mirrors AsyncTestCase.io_loop.
  ioloop::IOLoop& io_loop() noexcept { return *io_loop_; }

  /// Stops a wait() in progress (or makes the next wait() return at once). Deprecated in Tornado
  /// in favour of coroutine tests, kept for ports of older tests. Mirrors AsyncTestCase.stop.
  void stop();
  /// Runs the loop until stop() is called. @param timeout seconds (default
  /// get_async_test_timeout()). @throws TimeoutError if it passes. Mirrors AsyncTestCase.wait.
  void wait(std::optional<double> timeout = std::nullopt);

  /// Runs the coroutine `body()` on the loop until it completes, rethrowing its exception.
  /// @param timeout seconds (default get_async_test_timeout()); on expiry the test fails with
  /// TimeoutError. Used by TORNADO_GEN_TEST. Mirrors tornado.testing.gen_test.
  void run_gen_test(const std::function<Future<void>()>& body, std::optional<double> timeout = std::nullopt);

 protected:
  /// When true, a WARNING or worse logged during the test and not absorbed by an ExpectLog
  /// fails the test, as Tornado's own test runner does. Default false.
  bool fail_on_unexpected_logs = false;

 private:
  std::unique_ptr<ioloop::IOLoop> io_loop_;
  bool stopped_ = false;
  bool waiting_ = false;
  std::size_t log_handler_ = 0;
  std::size_t unexpected_logs_ = 0;
};

/// Asserts that a log line matching `regex` (matched from the start of the message, as Python's
/// re.match) is logged on `logger` while this object lives, and keeps matching
/// lines out of the output. If `required` and nothing matched, the current test fails at
/// destruction. `level`, if given, only matches records of exactly that level (and lowers the
/// logger's threshold to let them through). Mirrors tornado.testing.ExpectLog.
class ExpectLog {
 public:
  ExpectLog(log::Logger& logger, std::string regex, bool required = true,
            std::optional<log::Level> level = std::nullopt);
  ~ExpectLog();
  ExpectLog(const ExpectLog&) = delete;
  ExpectLog& operator=(const ExpectLog&) = delete;

  /// How many records matched so far.
  std::size_t matched() const noexcept;
  /// Whether a matching record carried an exception. Mirrors ExpectLog.logged_stack.
  bool logged_stack() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// A listening TCP socket on an ephemeral port of `address` (127.0.0.1 by default).
struct BoundSocket {
  int fd;    ///< the socket, listening, non-blocking; the caller closes it
  int port;  ///< the port the kernel picked
};
/// Binds a socket to an unused port. Mirrors tornado.testing.bind_unused_port.
/// @throws std::system_error on failure.
BoundSocket bind_unused_port(bool reuse_port = false, const std::string& address = "127.0.0.1");

}  // namespace tornado::testing
