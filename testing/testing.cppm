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
#include <string_view>
#include <utility>
#include <vector>
export module tornado.testing;

export import tornado.ioloop;
export import tornado.concurrent;
export import tornado.log;
export import tornado.httpclient;
export import tornado.httpserver;
export import tornado.web;

export namespace tornado::testing {

/// Seconds a TORNADO_GEN_TEST may run: $ASYNC_TEST_TIMEOUT if set and valid, else 5.
/// Mirrors tornado.testing.get_async_test_timeout.
double get_async_test_timeout();

/// A Boost.Test fixture giving each test a fresh IOLoop, made current for the test and closed
/// (with every descriptor still registered on it) afterwards. Use with BOOST_FIXTURE_TEST_CASE,
/// or with TORNADO_GEN_TEST for a test whose body is a coroutine. Mirrors
/// tornado.testing.AsyncTestCase.
///
/// An exception that escapes a callback, a timer, an I/O handler or a spawned coroutine on the
/// test's thread (what the IOLoop logs on app_log as "Exception in callback" or "Future exception
/// was never retrieved") fails the test, as Tornado's AsyncTestCase meant to with its
/// _handle_exception/__rethrow (Tornado 6 only logs these, and its test runner fails on logged
/// errors): wait() rethrows it at once, and the fixture's teardown reports it otherwise. Wrap code
/// that is expected to raise in an ExpectLog on app_log, or set fail_on_callback_exceptions to
/// false in the derived fixture's constructor.
///
/// While a test case lives, records of WARNING and above that reach the root logger are printed
/// to stderr (as the last-resort handler would), unless the root logger has handlers of its own.
class AsyncTestCase {
 public:
  AsyncTestCase();
  /// Closes the loop, then fails the current test (BOOST_ERROR) if a callback's exception is still
  /// pending, or, with fail_on_unexpected_logs, if warnings were logged.
  virtual ~AsyncTestCase();
  AsyncTestCase(const AsyncTestCase&) = delete;
  AsyncTestCase& operator=(const AsyncTestCase&) = delete;

  /// The test's loop. Mirrors AsyncTestCase.io_loop.
  ioloop::IOLoop& io_loop() noexcept { return *io_loop_; }

  /// Stops a wait() in progress (or makes the next wait() return at once). Deprecated in Tornado
  /// in favour of coroutine tests, kept for ports of older tests. Mirrors AsyncTestCase.stop
  /// (without the value Python's stop passes to wait).
  void stop();
  /// Runs the loop until stop() is called.
  /// @param timeout  seconds (default get_async_test_timeout(); 0 or less: no limit).
  /// @throws TimeoutError if the timeout passes first; rethrows a callback's exception (see the
  /// class comment) if one escaped meanwhile. Mirrors AsyncTestCase.wait.
  void wait(std::optional<double> timeout = std::nullopt);
  /// Runs the loop until stop() is called and `condition()` is true (the loop is restarted after
  /// each stop() until it is). Mirrors AsyncTestCase.wait(condition, timeout).
  /// @throws as the other overload.
  void wait(const std::function<bool()>& condition, std::optional<double> timeout = std::nullopt);

  /// Runs the coroutine `body()` on the loop until it completes, rethrowing its exception.
  /// @param timeout  seconds (default get_async_test_timeout()); on expiry the coroutine's future
  /// is cancelled and TimeoutError ("Async operation timed out after N seconds") thrown. Used by
  /// TORNADO_GEN_TEST. Mirrors tornado.testing.gen_test.
  void run_gen_test(const std::function<Future<void>()>& body, std::optional<double> timeout = std::nullopt);

  /// Rethrows, and forgets, the first exception that escaped a callback during the test, if any;
  /// otherwise returns. Mirrors AsyncTestCase.__rethrow.
  void rethrow();

 protected:
  /// When true (the default), an exception escaping a callback on the loop fails the test (see
  /// the class comment). Set it in the derived fixture's constructor.
  bool fail_on_callback_exceptions = true;
  /// When true, a WARNING or worse logged during the test and not absorbed by an ExpectLog
  /// fails the test, as Tornado's own test runner does. Default false.
  bool fail_on_unexpected_logs = false;

 private:
  void on_log(const log::LogRecord& record);

  std::unique_ptr<ioloop::IOLoop> io_loop_;
  AsyncTestCase* previous_active_ = nullptr;
  bool stopped_ = false;
  bool waiting_ = false;
  std::size_t unexpected_logs_ = 0;
  std::exception_ptr failure_;
  std::string failure_text_;
  std::size_t more_failures_ = 0;
};

/// Asserts that a log line matching `regex` (matched from the start of the message, as Python's
/// re.match; ECMAScript syntax) is logged on `logger` while this object lives, and keeps matching
/// lines out of the output (it is a filter on that logger, so it sees records logged on that
/// logger itself, not those propagated from its children). If `required` and nothing matched,
/// the current test fails at destruction (BOOST_ERROR), unless an exception is propagating; or
/// call close() to get the failure as an exception. `level`, if given, only matches records of
/// exactly that level (and lowers the logger's threshold to let them through, until
/// destruction); a matching record at another level is let through, and a warning logged on
/// app_log about it. Mirrors tornado.testing.ExpectLog.
class ExpectLog {
 public:
  /// @param logger    the logger to watch.
  /// @param regex     matched against the start of each record's message.
  /// @param required  fail if nothing matched.
  /// @param level     match only records of this level.
  /// @throws std::regex_error if `regex` is malformed.
  ExpectLog(log::Logger& logger, std::string regex, bool required = true,
            std::optional<log::Level> level = std::nullopt);
  /// The logger by name ("" for the root logger). Mirrors ExpectLog("tornado.general", ...).
  ExpectLog(std::string_view logger_name, std::string regex, bool required = true,
            std::optional<log::Level> level = std::nullopt);
  /// Calls close() if it was not called, reporting an unmet requirement through BOOST_ERROR.
  ~ExpectLog();
  ExpectLog(const ExpectLog&) = delete;
  ExpectLog& operator=(const ExpectLog&) = delete;

  /// Stops watching and restores the logger's level. Later calls do nothing.
  /// @throws std::runtime_error ("did not get expected log message") if `required` and nothing
  /// matched. Mirrors ExpectLog.__exit__.
  void close();

  /// How many records matched so far. (Python's `matched` is a bool.)
  std::size_t matched() const noexcept;
  /// Whether any record this ExpectLog examined carried an exception, matching or not.
  /// Mirrors ExpectLog.logged_stack.
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

/// The options of AsyncHTTPTestCase::fetch that tests use most, for designated initializers:
/// `fetch("/", {.method = "POST", .body = "a=1"})`. Anything else: pass an HTTPRequest.
struct FetchOptions {
  std::string method = "GET";           ///< the HTTP method
  std::optional<std::string> body;      ///< the body (POST, PUT and PATCH need one)
  httputil::HTTPHeaders headers;        ///< extra request headers
  bool follow_redirects = true;         ///< follow 3xx responses
  bool raise_error = false;             ///< throw HTTPClientError for a non-2xx response
  bool allow_nonstandard_methods = false;  ///< skip the client's method/body checks
  std::optional<bool> decompress_response;  ///< send Accept-Encoding: gzip and gunzip (default true)
  double request_timeout = 0;           ///< seconds (0: the client's default)
};

/// A test case that starts an HTTP server on 127.0.0.1 (an unused port) for the Application that
/// get_app() returns, with an AsyncHTTPClient on the test's IOLoop. The server starts in setup()
/// (Boost.Test calls it before the test body) or on first use, since a constructor cannot call the
/// derived class's get_app(); it is stopped and its connections closed after the test.
///
///     struct HelloTest : tornado::testing::AsyncHTTPTestCase {
///       std::unique_ptr<tornado::web::Application> get_app() override { ... }
///     };
///     BOOST_FIXTURE_TEST_CASE(hello, HelloTest) { BOOST_TEST(fetch("/").code == 200); }
///
/// Mirrors tornado.testing.AsyncHTTPTestCase.
class AsyncHTTPTestCase : public AsyncTestCase {
 public:
  AsyncHTTPTestCase();
  /// Stops the server, closes its connections (running the loop for that) and the client.
  ~AsyncHTTPTestCase() override;

  /// The application to test. Mirrors AsyncHTTPTestCase.get_app.
  /// @throws std::logic_error unless overridden (or get_server_delegate is).
  virtual std::unique_ptr<web::Application> get_app();
  /// What the server serves: by default get_app(). Override this instead to test another
  /// HTTPServerConnectionDelegate (a routing::Router, say), as Tornado's get_app may return any
  /// HTTPServer callback.
  virtual std::unique_ptr<httputil::HTTPServerConnectionDelegate> get_server_delegate();
  /// Options for the server (TLS, limits, xheaders...). Mirrors get_httpserver_options.
  virtual httpserver::HTTPServerOptions get_httpserver_options() { return {}; }
  /// "http" (AsyncHTTPSTestCase: "https"). Mirrors get_protocol.
  virtual std::string get_protocol() { return "http"; }
  /// The client the test uses (default: the IOLoop's shared AsyncHTTPClient).
  /// Mirrors get_http_client.
  virtual std::shared_ptr<httpclient::AsyncHTTPClient> get_http_client();

  /// Starts the server if it is not running yet (Boost.Test's fixture setup hook).
  void setup();
  /// The server's port. Mirrors get_http_port.
  int get_http_port();
  /// protocol://127.0.0.1:port + path. Mirrors get_url.
  std::string get_url(std::string_view path);
  /// The server. Mirrors AsyncHTTPTestCase.http_server.
  httpserver::HTTPServer& http_server();
  /// The client. Mirrors AsyncHTTPTestCase.http_client.
  httpclient::AsyncHTTPClient& http_client();
  /// The application get_app() returned. Mirrors AsyncHTTPTestCase._app.
  /// @throws std::logic_error if the delegate being served is not an Application.
  web::Application& app();

  /// Fetches `path` (or an absolute http:// or https:// URL) and runs the IOLoop until the
  /// response arrives or get_async_test_timeout() seconds pass. With `raise_error` false (the
  /// default, unlike AsyncHTTPClient) a non-2xx response is returned, not thrown.
  /// @throws TimeoutError on timeout; what the client throws otherwise (a 599 error: connection
  /// refused or closed). Must not be called while the loop runs (in a TORNADO_GEN_TEST, co_await
  /// http_client().fetch(get_url(path)) instead). Mirrors AsyncHTTPTestCase.fetch.
  httpclient::HTTPResponse fetch(std::string_view path, bool raise_error = false);
  /// fetch with the common options (method, body, headers...).
  httpclient::HTTPResponse fetch(std::string_view path, const FetchOptions& options);
  /// fetch with a whole request; its url is replaced by get_url(path).
  httpclient::HTTPResponse fetch(std::string_view path, httpclient::HTTPRequest request, bool raise_error = false);

 protected:
  /// Called by fetch for every request before it is sent (AsyncHTTPSTestCase turns off
  /// certificate checks here, as Tornado's does with its client defaults).
  virtual void prepare_request(httpclient::HTTPRequest& request) {}

 private:
  void ensure_started();
  int port_ = 0;
  std::unique_ptr<httputil::HTTPServerConnectionDelegate> app_;
  std::unique_ptr<httpserver::HTTPServer> server_;
  std::shared_ptr<httpclient::AsyncHTTPClient> client_;
};

/// AsyncHTTPTestCase over HTTPS, with the test certificate of tests/data (localhost). Requests
/// made through fetch() do not verify the certificate. Mirrors tornado.testing.AsyncHTTPSTestCase.
class AsyncHTTPSTestCase : public AsyncHTTPTestCase {
 public:
  /// The server's TLS context (default: default_ssl_options()). Mirrors get_ssl_options.
  virtual netutil::SSLContext get_ssl_options() { return default_ssl_options(); }
  /// A server context with the bundled test certificate and key. Mirrors default_ssl_options.
  static netutil::SSLContext default_ssl_options();
  httpserver::HTTPServerOptions get_httpserver_options() override;
  std::string get_protocol() override { return "https"; }

 protected:
  void prepare_request(httpclient::HTTPRequest& request) override { request.validate_cert = false; }
};

}  // namespace tornado::testing
